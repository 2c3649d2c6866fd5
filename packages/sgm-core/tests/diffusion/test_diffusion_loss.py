"""StandardDiffusionLoss: zero for a perfect denoiser, closed forms for a blind one, noise and key plumbing."""

import pytest
import torch

from sgm.core.config import instantiate
from sgm.core.diffusion.denoiser import Denoiser
from sgm.core.diffusion.loss import StandardDiffusionLoss

REF = "sgm.modules.diffusionmodules."
EDM_SIGMAS = {"target": REF + "sigma_sampling.EDMSampling"}
UNIT = {"target": REF + "loss_weighting.UnitWeighting"}


def constant_sigma(sigma: float) -> dict:
    """log-normal sigma sampling with zero spread: always `sigma`."""
    return {
        "target": REF + "sigma_sampling.EDMSampling",
        "params": {"p_mean": float(torch.tensor(sigma).log()), "p_std": 0.0},
    }


def test_loss_is_zero_for_a_network_that_predicts_the_true_noise():
    x0 = torch.randn(4, 3, 5, 5, dtype=torch.float64)
    denoiser = Denoiser({"target": REF + "denoiser_scaling.EpsScaling"})

    def oracle(x_scaled, c_noise, cond):
        sigma = c_noise.reshape(-1, 1, 1, 1)  # EpsScaling: c_noise = sigma, c_in = 1 / sqrt(sigma^2 + 1)
        noised = x_scaled * (sigma**2 + 1).sqrt()
        return (noised - x0) / sigma

    for weighting in ("UnitWeighting", "EDMWeighting", "EpsWeighting", "VWeighting"):
        loss_fn = StandardDiffusionLoss(EDM_SIGMAS, {"target": REF + "loss_weighting." + weighting})
        loss = loss_fn._forward(oracle, denoiser, {}, x0, {})
        assert loss.shape == (4,) and loss.abs().max() < 1e-20


@pytest.mark.parametrize("loss_type", ["l2", "l1"])
def test_blind_denoiser_loss_is_the_weighted_size_of_the_data(loss_type):
    x0 = torch.randn(3, 2, 4, 4, dtype=torch.float64)
    sigma = 2.0
    weighting = {"target": REF + "loss_weighting.EDMWeighting", "params": {"sigma_data": 0.5}}
    loss_fn = StandardDiffusionLoss(constant_sigma(sigma), weighting, loss_type=loss_type)
    loss = loss_fn._forward(None, lambda network, x, s, c: torch.zeros_like(x), {}, x0, {})
    w = (sigma**2 + 0.25) / (sigma * 0.5) ** 2
    error = x0**2 if loss_type == "l2" else x0.abs()
    assert torch.allclose(loss, w * error.flatten(1).mean(1))


def test_noise_draw_order_offset_noise_and_batch2model_keys():
    x0 = torch.zeros(2, 3, 4, 4)
    seen = {}

    def recording_denoiser(network, noised, sigmas, cond, **extra):
        seen.update(noised=noised, sigmas=sigmas, cond=cond, extra=extra)
        return noised

    loss_fn = StandardDiffusionLoss(EDM_SIGMAS, UNIT, offset_noise_level=0.1, batch2model_keys="image_only_indicator")
    batch = {"image_only_indicator": torch.ones(1, 2), "txt": ["a", "b"]}
    torch.manual_seed(3)
    loss_fn._forward(None, recording_denoiser, {"crossattn": 1}, x0, batch)

    torch.manual_seed(3)
    sigmas = (-1.2 + 1.2 * torch.randn((2,))).exp()
    noise = torch.randn_like(x0) + 0.1 * torch.randn((2, 3))[:, :, None, None]
    assert torch.equal(seen["sigmas"], sigmas)
    assert torch.allclose(seen["noised"], noise * sigmas[:, None, None, None])
    assert seen["extra"].keys() == {"image_only_indicator"} and seen["cond"] == {"crossattn": 1}


def test_forward_conditions_the_batch_and_reference_config_builds():
    config = {
        "target": REF + "loss.StandardDiffusionLoss",
        "params": {
            "sigma_sampler_config": {
                "target": REF + "sigma_sampling.DiscreteSampling",
                "params": {
                    "num_idx": 1000,
                    "discretization_config": {"target": REF + "discretizer.LegacyDDPMDiscretization"},
                },
            },
            "loss_weighting_config": {"target": REF + "loss_weighting.EpsWeighting"},
        },
    }
    loss_fn = instantiate(config)
    x0 = torch.randn(2, 4)

    def conditioner(batch):
        return {"vector": batch["label"]}

    def denoiser(network, x, sigma, cond):
        return x0 + cond["vector"]

    torch.manual_seed(0)
    loss = loss_fn(None, denoiser, conditioner, x0, {"label": torch.full((2, 4), 0.5)})
    torch.manual_seed(0)
    sigmas = loss_fn.sigma_sampler.sigmas[torch.randint(0, 1000, (2,))]
    assert torch.allclose(loss, sigmas**-2 * 0.25)  # EpsWeighting times the squared error 0.5^2


def test_unknown_loss_type_is_a_clear_error():
    with pytest.raises(ValueError, match="loss_type must be one of"):
        StandardDiffusionLoss(EDM_SIGMAS, UNIT, loss_type="huber")
