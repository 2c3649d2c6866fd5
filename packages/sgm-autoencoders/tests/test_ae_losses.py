import math

import pytest
import torch

from sgm.autoencoders.losses import LPIPS, GeneralLPIPSWithDiscriminator, LatentLPIPS, hinge_d_loss, vanilla_d_loss
from sgm.autoencoders.losses.discriminator import NLayerDiscriminator
from sgm.autoencoders.losses.lpips import LPIPS_WEIGHTS_ENV, VGG16Features


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_hinge_and_vanilla_losses_closed_form():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.0])
    # relu(1 - real) = [0, 0.5] -> 0.25; relu(1 + fake) = [0, 1] -> 0.5
    assert hinge_d_loss(real, fake).item() == pytest.approx(0.5 * (0.25 + 0.5))
    softplus = lambda v: math.log1p(math.exp(v))  # noqa: E731
    expected = 0.5 * ((softplus(-2.0) + softplus(-0.5)) / 2 + (softplus(-3.0) + softplus(0.0)) / 2)
    assert vanilla_d_loss(real, fake).item() == pytest.approx(expected)


def test_lpips_of_identical_images_is_zero_and_positive_otherwise():
    lpips = LPIPS(pretrained=False)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.equal(lpips(x, x), torch.zeros(2, 1, 1, 1))
    assert (lpips(x, x.flip(-1)) > 0).all()
    assert not any(p.requires_grad for p in lpips.parameters())


def test_lpips_weights_missing_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv(LPIPS_WEIGHTS_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match=LPIPS_WEIGHTS_ENV):
        LPIPS()
    monkeypatch.setenv(LPIPS_WEIGHTS_ENV, str(tmp_path / "vgg.pth"))
    with pytest.raises(FileNotFoundError, match="vgg.pth"):
        LPIPS()


def test_lpips_loads_lin_layers_and_torchvision_vgg_weights(tmp_path):
    source = LPIPS(pretrained=False)
    lins = {k: v for k, v in source.state_dict().items() if k.startswith("lin")}
    torch.save(lins, tmp_path / "vgg.pth")
    torchvision_layout = {}
    for key, value in source.net.state_dict().items():
        _slice, index, name = key.split(".")
        torchvision_layout[f"features.{index}.{name}"] = value
    torchvision_layout["classifier.0.weight"] = torch.zeros(1)  # torchvision files also hold the classifier
    torch.save(torchvision_layout, tmp_path / "vgg16.pth")
    loaded = LPIPS(weights_path=tmp_path / "vgg.pth", vgg_weights_path=tmp_path / "vgg16.pth")
    for key, value in source.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_vgg16_features_layout():
    keys = set(VGG16Features().state_dict())
    assert {"slice1.0.weight", "slice1.2.weight", "slice2.5.weight", "slice3.14.bias", "slice5.28.weight"} <= keys
    assert len(keys) == 26  # 13 convs


def test_patchgan_layout_and_output():
    disc = NLayerDiscriminator(input_nc=3, ndf=8, n_layers=3)
    assert disc(torch.randn(2, 3, 64, 64)).shape == (2, 1, 6, 6)
    widths = [m.out_channels for m in disc.main if isinstance(m, torch.nn.Conv2d)]
    assert widths == [8, 16, 32, 64, 1]


def _loss(**overrides):
    params = dict(disc_start=0, lpips_pretrained=False, perceptual_weight=0.5, disc_num_layers=2, learn_logvar=True)
    params.update(overrides)
    return GeneralLPIPSWithDiscriminator(**params)


def test_generator_and_discriminator_steps_backpropagate():
    loss = _loss(regularization_weights={"kl_loss": 0.1})
    last_layer = torch.nn.Parameter(torch.randn(3, 3, 3, 3))
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    xrec = torch.nn.functional.conv2d(x, last_layer, padding=1)
    reg_log = {"kl_loss": torch.tensor(2.0)}
    total, log = loss(x, xrec, regularization_log=reg_log, optimizer_idx=0, global_step=5, last_layer=last_layer)
    total.backward()
    assert last_layer.grad is not None and torch.isfinite(last_layer.grad).all()
    assert loss.logvar.grad is not None  # learn_logvar trains the log-variance with the autoencoder
    d_weight = log["train/scalars/d_weight"]
    assert torch.isfinite(d_weight) and 0 <= d_weight <= 1e4
    assert log["train/kl_loss"].item() == 2.0
    expected = log["train/loss/nll"] + d_weight * log["train/loss/g"] + 0.1 * 2.0  # weights=None: weighted == nll
    torch.testing.assert_close(log["train/loss/total"], expected)
    d_loss, d_log = loss(x, xrec, regularization_log=reg_log, optimizer_idx=1, global_step=5, last_layer=last_layer)
    d_loss.backward()
    assert all(p.grad is not None for p in loss.discriminator.parameters())
    assert set(d_log) == {"train/loss/disc", "train/logits/real", "train/logits/fake"}


def test_adaptive_weight_is_the_gradient_norm_ratio():
    loss = _loss(disc_weight=0.5)
    layer = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    nll, g = (layer**2).sum(), 3.0 * layer.sum()  # grads: 2 * layer = [2, 4] and [3, 3]
    expected = math.sqrt(20) / (math.sqrt(18) + 1e-4) * 0.5
    assert loss.calculate_adaptive_weight(nll, g, layer).item() == pytest.approx(expected)


def test_gan_terms_wait_for_disc_start():
    loss = _loss(disc_start=100, perceptual_weight=0.0)
    x, xrec = torch.zeros(1, 3, 32, 32), torch.ones(1, 3, 32, 32)
    total, log = loss(x, xrec, regularization_log={}, optimizer_idx=0, global_step=0, last_layer=torch.zeros(1))
    # nll = sum |x - x'| / exp(0) + 0 per sample
    assert total.item() == pytest.approx(3 * 32 * 32)
    assert log["train/scalars/d_weight"].item() == 0.0
    d_loss, _ = loss(x, xrec, regularization_log={}, optimizer_idx=1, global_step=0, last_layer=torch.zeros(1))
    assert d_loss.item() == 0.0


def test_video_inputs_are_scored_per_frame():
    loss = _loss(dims=3).eval()
    x = torch.rand(1, 3, 2, 16, 16)
    total, _ = loss(x, x, regularization_log={}, optimizer_idx=0, global_step=0, last_layer=torch.zeros(1))
    disc_term = -loss.discriminator(x.transpose(1, 2).flatten(0, 1)).mean()  # eval: d_weight 1, nll 0
    torch.testing.assert_close(total, disc_term)


def test_latent_lpips(make_ddconfig):
    decoder_config = {
        "target": "sgm.models.autoencoder.AutoencoderKL",
        "params": {"embed_dim": 4, "ddconfig": make_ddconfig(), "lossconfig": {"target": "torch.nn.Identity"}},
    }
    loss = LatentLPIPS(decoder_config, perceptual_weight_on_inputs=1.0, lpips_pretrained=False)
    assert not hasattr(loss.decoder, "encoder")
    z = torch.randn(1, 4, 8, 8)
    same, log = loss(z, z, torch.zeros(1, 3, 16, 16))
    assert log["train/latent_l2_loss"].item() == 0.0 and log["train/perceptual_loss"].item() == 0.0
    different, _ = loss(z, z + 1, torch.zeros(1, 3, 16, 16))
    assert different > same
