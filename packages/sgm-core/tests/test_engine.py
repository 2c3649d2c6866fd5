"""DiffusionEngine and the network wrappers, with a tiny UNet and test-local stand-ins for the other parts."""

import sys
import types

import pytest
import torch
import torch.nn as nn

from sgm.core.config import instantiate
from sgm.core.engine import DiffusionEngine, IdentityWrapper, OpenAIWrapper
from sgm.core.nn.unet import UNetModel

UNET = {
    "target": "sgm.modules.diffusionmodules.openaimodel.UNetModel",
    "params": dict(
        in_channels=4, out_channels=4, model_channels=32, num_res_blocks=1, channel_mult=[1, 2],
        attention_resolutions=[2], num_head_channels=8, use_linear_in_transformer=True, context_dim=16,
        adm_in_channels=8, num_classes="sequential",
    ),
}  # fmt: skip


class HalvingFirstStage(nn.Module):
    """encode(x) = x / 2, decode(z) = 2 z; records the chunks it sees."""

    def __init__(self, decoder_takes_timesteps: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1))
        self.decoder_takes_timesteps = decoder_takes_timesteps
        self.calls = []

    def encode(self, x):
        self.calls.append(("encode", len(x)))
        return x / 2 * self.weight

    def decode(self, z, **kwargs):
        self.calls.append(("decode", len(z), kwargs))
        return 2 * z * self.weight


class PassThroughDenoiser(nn.Module):
    """denoiser(network, x, sigma, cond) = x - network(x, sigma, cond)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("sigmas", torch.linspace(0.1, 10, 5))

    def forward(self, network, x, sigma, cond, **kwargs):
        return x - network(x, sigma, cond, **kwargs)


class OneStepSampler:
    def __call__(self, denoiser, x, cond, uc=None):
        return denoiser(x, torch.full((x.shape[0],), 10.0), cond)


class TinyConditioner(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3, 16)


def _mse_loss(model, denoiser, conditioner, x, batch):
    cond = {"crossattn": batch["crossattn"], "vector": batch["vector"]}
    return (denoiser(model, x, torch.ones(x.shape[0]), cond) - x).square().flatten(1).mean(1)


def _engine(**kwargs):
    torch.manual_seed(0)
    params = dict(
        network_config=UNET, denoiser_config=PassThroughDenoiser(), first_stage_config=HalvingFirstStage(),
        conditioner_config=TinyConditioner(), sampler_config=OneStepSampler(), scale_factor=0.5,
    )  # fmt: skip
    return DiffusionEngine(**{**params, **kwargs})


def _cond(batch=2):
    return {"crossattn": torch.randn(batch, 3, 16), "vector": torch.randn(batch, 8)}


def test_builds_from_the_reference_target():
    params = dict(
        network_config=UNET, denoiser_config=PassThroughDenoiser(), first_stage_config=HalvingFirstStage(),
        conditioner_config=TinyConditioner(),
    )  # fmt: skip
    engine = instantiate({"target": "sgm.models.diffusion.DiffusionEngine", "params": params})
    assert isinstance(engine, DiffusionEngine) and type(engine.model.diffusion_model) is UNetModel
    assert engine.sampler is None and engine.scale_factor == 1.0


def test_state_dict_prefixes_are_the_official_ones():
    prefixes = {key.split(".")[0] for key in _engine().state_dict()}
    assert prefixes == {"model", "denoiser", "conditioner", "first_stage_model"}
    assert "model.diffusion_model.label_emb.0.0.weight" in _engine().state_dict()


def test_first_stage_is_frozen_and_stays_in_eval():
    engine = _engine().train()
    assert not engine.first_stage_model.training and engine.model.training
    assert not any(p.requires_grad for p in engine.first_stage_model.parameters())


def test_encode_decode_in_chunks_with_scale_factor():
    engine = _engine(en_and_decode_n_samples_a_time=2)
    x = torch.randn(5, 4, 8, 8)
    z = engine.encode_first_stage(x)
    torch.testing.assert_close(z, 0.5 * (x / 2))
    torch.testing.assert_close(engine.decode_first_stage(z), x)
    assert [c[1] for c in engine.first_stage_model.calls] == [2, 2, 1, 2, 2, 1]
    assert all(c[2] == {} for c in engine.first_stage_model.calls if c[0] == "decode")


def test_temporal_decoder_gets_the_chunk_length_as_timesteps():
    first_stage = HalvingFirstStage(decoder_takes_timesteps=True)
    engine = _engine(first_stage_config=first_stage, en_and_decode_n_samples_a_time=3)
    engine.decode_first_stage(torch.randn(4, 4, 2, 2))
    assert [c[2] for c in engine.first_stage_model.calls] == [{"timesteps": 3}, {"timesteps": 1}]


def test_sample_draws_randn_and_runs_the_sampler_on_the_denoiser():
    engine = _engine()
    cond = _cond()
    torch.manual_seed(7)
    samples = engine.sample(cond, batch_size=2, shape=(4, 8, 8))
    torch.manual_seed(7)
    noise = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        expected = noise - engine.model(noise, torch.full((2,), 10.0), cond)
    torch.testing.assert_close(samples, expected)


def test_sample_passes_kwargs_to_the_network():
    seen = {}

    class Recorder(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def forward(self, x, timesteps=None, context=None, y=None, **kwargs):
            seen.update(kwargs)
            return x * self.w

    engine = _engine(network_config=Recorder())
    engine.sample({}, batch_size=1, shape=(2,), num_video_frames=3)
    assert seen == {"num_video_frames": 3}


def test_openai_wrapper_maps_the_conditioning():
    seen = {}

    class Recorder(nn.Module):
        def forward(self, x, timesteps=None, context=None, y=None, **kwargs):
            seen.update(x=x, timesteps=timesteps, context=context, y=y, **kwargs)
            return x

    wrapper = OpenAIWrapper(Recorder())
    x, t, concat = torch.randn(2, 4, 3, 3), torch.tensor([1, 2]), torch.randn(2, 3, 3, 3)
    c = {"concat": concat, "crossattn": torch.randn(2, 5, 16), "vector": torch.randn(2, 8), "cond_view": "v"}
    wrapper(x, t, c, image_only_indicator="i")
    assert torch.equal(seen["x"], torch.cat([x, concat], dim=1))
    assert seen["context"] is c["crossattn"] and seen["y"] is c["vector"] and seen["timesteps"] is t
    assert seen["cond_view"] == "v" and seen["image_only_indicator"] == "i" and "cond_motion" not in seen
    wrapper(x, t, {})
    assert seen["x"] is x and seen["context"] is None and seen["y"] is None


def test_identity_wrapper_by_reference_name():
    engine = _engine(network_wrapper="sgm.modules.diffusionmodules.wrappers.IdentityWrapper")
    assert type(engine.model) is IdentityWrapper
    cond = _cond(1)
    out = engine.model(torch.zeros(1, 4, 4, 4), torch.zeros(1), cond["crossattn"], cond["vector"])
    assert out.shape == (1, 4, 4, 4)


def test_forward_returns_the_mean_loss():
    engine = _engine(loss_fn_config=_mse_loss)
    x, batch = torch.randn(2, 4, 8, 8), _cond()
    loss, logs = engine(x, batch)
    assert loss.ndim == 0 and logs == {"loss": loss}
    torch.testing.assert_close(loss, _mse_loss(engine.model, engine.denoiser, None, x, batch).mean())


def test_training_settings_are_stored():
    engine = _engine(use_ema=True, ema_decay_rate=0.99, input_key="png", log_keys=["txt"], scheduler_config={"a": 1})
    assert (engine.use_ema, engine.ema_decay_rate, engine.input_key, engine.log_keys) == (True, 0.99, "png", ["txt"])
    assert engine.optimizer_config == {"target": "torch.optim.AdamW"} and engine.scheduler_config == {"a": 1}
    assert engine.loss_fn is None
    assert torch.equal(engine.get_input({"png": torch.ones(1)}), torch.ones(1))


def test_clear_errors():
    engine = _engine(sampler_config=None)
    with pytest.raises(ValueError, match="sampler"):
        engine.sample({}, shape=(4, 8, 8))
    with pytest.raises(ValueError, match="loss"):
        engine(torch.zeros(1), {})
    with pytest.raises(KeyError, match="input_key"):
        engine.get_input({"txt": []})
    with pytest.raises(ValueError, match="not allowed"):
        _engine(network_config={"target": "os.system"})


def test_ckpt_path_goes_to_the_checkpoint_loader(monkeypatch):
    loaded = []
    fake = types.ModuleType("sgm.core.checkpoint")
    fake.load_checkpoint_into = lambda module, path: loaded.append((module, path))
    monkeypatch.setitem(sys.modules, "sgm.core.checkpoint", fake)
    engine = _engine(ckpt_path="model.safetensors")
    assert loaded == [(engine, "model.safetensors")]


def test_no_conditioner_config_builds_an_empty_conditioner():
    pytest.importorskip("sgm.conditioners.general")
    engine = _engine(conditioner_config=None)
    assert len(engine.conditioner.embedders) == 0
