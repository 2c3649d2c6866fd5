import pytest
import torch

from sgm.autoencoders.engine import AutoencodingEngine, IdentityFirstStage
from sgm.core.config import instantiate


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _kl(make_ddconfig, target="sgm.models.autoencoder.AutoencoderKL", **params):
    config = {
        "embed_dim": 4,
        "monitor": "val/rec_loss",
        "ddconfig": make_ddconfig(),
        "lossconfig": {"target": "torch.nn.Identity"},
    }
    config.update(params)
    return instantiate({"target": target, "params": config}).eval()


def test_autoencoder_kl_round_trip_shapes(make_ddconfig):
    model = _kl(make_ddconfig)
    x = torch.randn(2, 3, 16, 16)
    z, reg_log = model.encode(x, return_reg_log=True)
    assert z.shape == (2, 4, 8, 8) and "kl_loss" in reg_log
    moments, empty = model.encode(x, unregularized=True)
    assert moments.shape == (2, 8, 8, 8) and empty == {}
    assert model.decode(z).shape == (2, 3, 16, 16)
    z, dec, reg_log = model(x)
    assert dec.shape == x.shape
    assert isinstance(model.loss, torch.nn.Identity)
    assert model.monitor == "val/rec_loss"


def test_mode_only_encodes_to_the_posterior_mean(make_ddconfig):
    model = _kl(make_ddconfig, target="sgm.models.autoencoder.AutoencoderKLModeOnly")
    x = torch.randn(1, 3, 16, 16)
    moments, _ = model.encode(x, unregularized=True)
    assert torch.equal(model.encode(x), model.encode(x))
    torch.testing.assert_close(model.encode(x), moments[:, :4])


def test_batch_chunked_encode_and_decode_equal_the_full_batch(make_ddconfig):
    full = _kl(make_ddconfig, target="sgm.models.autoencoder.AutoencoderKLModeOnly")
    chunked = _kl(make_ddconfig, target="sgm.models.autoencoder.AutoencoderKLModeOnly", max_batch_size=2)
    chunked.load_state_dict(full.state_dict())
    x = torch.randn(5, 3, 16, 16)
    z = full.encode(x)
    torch.testing.assert_close(chunked.encode(x), z)
    torch.testing.assert_close(chunked.decode(z), full.decode(z))


def test_legacy_vq(make_ddconfig):
    model = instantiate(
        {
            "target": "sgm.models.autoencoder.AutoencoderLegacyVQ",
            "params": {
                "embed_dim": 3,
                "n_embed": 16,
                "sane_index_shape": True,
                "ddconfig": make_ddconfig(double_z=False),
                "lossconfig": {"target": "torch.nn.Identity"},
            },
        }
    )
    z, log = model.encode(torch.randn(2, 3, 16, 16), return_reg_log=True)
    assert z.shape == (2, 3, 8, 8) and log["min_encoding_indices"].shape == (2, 8, 8)
    assert model.quant_conv.weight.shape == (3, 4, 1, 1)
    assert model.decode(z).shape == (2, 3, 16, 16)


def test_engine_from_separate_configs_and_training_hooks(make_ddconfig):
    config = make_ddconfig(attn_type="none")
    model = AutoencodingEngine(
        encoder_config={"target": "sgm.modules.diffusionmodules.model.Encoder", "params": config},
        decoder_config={"target": "sgm.modules.diffusionmodules.model.Decoder", "params": config},
        loss_config={"target": "torch.nn.Identity"},
        regularizer_config={"target": "sgm.modules.autoencoding.regularizers.DiagonalGaussianRegularizer"},
        trainable_ae_params=[["decoder\\.conv_out"], ["encoder\\."]],
        ae_optimizer_args=[{"weight_decay": 0.1}, {}],
        input_key="image",
    )
    assert model.get_last_layer() is model.decoder.conv_out.weight
    assert len(model.get_autoencoder_params()) == len(list(model.encoder.parameters())) + len(
        list(model.decoder.parameters())
    )
    assert model.get_discriminator_params() == []
    (optimizer,) = model.build_optimizers(learning_rate=1e-3)
    assert isinstance(optimizer, torch.optim.Adam)
    assert [len(group["params"]) for group in optimizer.param_groups] == [2, len(list(model.encoder.parameters()))]
    assert optimizer.param_groups[0]["weight_decay"] == 0.1
    logs = model.log_images({"image": torch.rand(1, 3, 16, 16) * 2 - 1})
    assert {"inputs", "reconstructions", "diff", "diff_boost"} <= set(logs)
    assert logs["diff_boost"].min() >= -1 and logs["diff_boost"].max() <= 1


def test_checkpoint_path_loads_weights(make_ddconfig, tmp_path):
    from safetensors.torch import save_file

    source = _kl(make_ddconfig)
    save_file(source.state_dict(), tmp_path / "vae.safetensors")
    loaded = _kl(make_ddconfig, ckpt_path=str(tmp_path / "vae.safetensors"))
    for key, value in source.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    with pytest.raises(FileNotFoundError, match="ckpt_path"):
        _kl(make_ddconfig, ckpt_path=str(tmp_path / "missing.safetensors"))


def test_identity_first_stage():
    stage = IdentityFirstStage()
    x = torch.randn(2, 3)
    assert stage.encode(x) is x and stage.decode(x) is x and stage.get_input(x) is x
