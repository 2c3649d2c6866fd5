"""Scalings, weightings, denoisers and training sigma samplers, against the formulas they come from."""

import pytest
import torch

from sgm.core.diffusion.denoiser import Denoiser, DiscreteDenoiser
from sgm.core.diffusion.scaling import EDMScaling, VScaling, VScalingWithEDMcNoise
from sgm.core.diffusion.sigma_sampling import DiscreteSampling, EDMSampling, ZeroSampler
from sgm.core.diffusion.weighting import EDMWeighting, EpsWeighting, UnitWeighting, VWeighting

REF = "sgm.modules.diffusionmodules."
DDPM = {"target": REF + "discretizer.LegacyDDPMDiscretization"}
SIGMAS = torch.tensor([0.002, 0.03, 0.5, 1.0, 3.7, 14.6, 80.0], dtype=torch.float64)


@pytest.mark.parametrize("sigma_data", [0.5, 1.0])
def test_edm_scaling_gives_unit_variance_network_input_and_target(sigma_data):
    """For x0 ~ N(0, sd^2) and x = x0 + sigma n: Var(c_in x) = 1 and Var((x0 - c_skip x) / c_out) = 1."""
    c_skip, c_out, c_in, c_noise = EDMScaling(sigma_data)(SIGMAS)
    variance = sigma_data**2 + SIGMAS**2
    assert torch.allclose(c_in**2 * variance, torch.ones_like(SIGMAS))
    target_var = ((1 - c_skip) ** 2 * sigma_data**2 + c_skip**2 * SIGMAS**2) / c_out**2
    assert torch.allclose(target_var, torch.ones_like(SIGMAS))
    assert torch.allclose(c_noise, SIGMAS.log() / 4)


def test_v_scalings_are_edm_scaling_with_unit_sigma_data():
    edm = EDMScaling(sigma_data=1.0)(SIGMAS)
    v = VScaling()(SIGMAS)
    v_edm = VScalingWithEDMcNoise()(SIGMAS)
    for a, b, c in zip(edm[:2], v[:2], v_edm[:2]):  # c_skip; c_out up to sign
        assert torch.allclose(a.abs(), b.abs())
        assert torch.allclose(b, c)
    assert torch.allclose(v[2], edm[2])
    assert torch.allclose(v[3], SIGMAS)
    assert torch.allclose(v_edm[3], SIGMAS.log() / 4)


def exact_network(prediction):
    """A network that outputs a prediction computed from the true x0 and noise, recording what it was given."""
    seen = {}

    def network(x, c_noise, cond, **extra):
        seen.update(x=x, c_noise=c_noise, cond=cond, extra=extra)
        return prediction

    return network, seen


@pytest.mark.parametrize("parameterization", ["eps", "v", "edm"])
def test_denoiser_recovers_x0_when_the_network_predicts_its_target(parameterization):
    torch.manual_seed(0)
    x0, noise = torch.randn(7, 3, 4, 4, dtype=torch.float64), torch.randn(7, 3, 4, 4, dtype=torch.float64)
    sigma = SIGMAS
    s = sigma[:, None, None, None]
    x = x0 + s * noise
    if parameterization == "eps":  # eps-prediction: the noise itself
        scaling, target = {"target": REF + "denoiser_scaling.EpsScaling"}, noise
    elif parameterization == "v":  # v = alpha_t n - sigma_t x0 in VP terms (Salimans & Ho 2022)
        scaling = {"target": REF + "denoiser_scaling.VScaling"}
        target = (noise - s * x0) / (1 + s**2).sqrt()
    else:  # F = (x0 - c_skip x) / c_out
        scaling = {"target": REF + "denoiser_scaling.EDMScaling", "params": {"sigma_data": 0.5}}
        c_skip, c_out, _, _ = EDMScaling(0.5)(s)
        target = (x0 - c_skip * x) / c_out
    network, seen = exact_network(target)
    denoised = Denoiser(scaling)(network, x, sigma, {"crossattn": 1}, y="extra")
    assert torch.allclose(denoised, x0)
    assert seen["cond"] == {"crossattn": 1} and seen["extra"] == {"y": "extra"}
    assert seen["c_noise"].shape == sigma.shape


def test_discrete_denoiser_sigmas_round_trip_and_are_a_persistent_buffer():
    denoiser = DiscreteDenoiser({"target": REF + "denoiser_scaling.EpsScaling"}, 1000, DDPM)
    assert "sigmas" in denoiser.state_dict() and denoiser.sigmas.shape == (1000,)
    assert torch.all(denoiser.sigmas[1:] > denoiser.sigmas[:-1])  # flip=True: index = DDPM timestep
    indices = denoiser.sigma_to_idx(denoiser.sigmas)
    assert torch.equal(indices, torch.arange(1000))
    assert torch.equal(denoiser.idx_to_sigma(indices), denoiser.sigmas)


def test_discrete_denoiser_snaps_sigma_and_passes_the_timestep_index():
    denoiser = DiscreteDenoiser({"target": REF + "denoiser_scaling.EpsScaling"}, 1000, DDPM)
    sigmas = denoiser.sigmas
    between = torch.stack([sigmas[10] * 0.9 + sigmas[11] * 0.1, sigmas[500] * 0.2 + sigmas[501] * 0.8])
    assert torch.equal(denoiser.possibly_quantize_sigma(between), sigmas[[10, 501]])
    network, seen = exact_network(torch.zeros(2, 1))
    x = torch.ones(2, 1)
    out = denoiser(network, x, between, {})
    assert torch.equal(seen["c_noise"], torch.tensor([10, 501]))
    assert torch.allclose(seen["x"], x / (sigmas[[10, 501]][:, None] ** 2 + 1).sqrt())
    assert torch.allclose(out, x)  # eps = 0: D = x
    continuous = DiscreteDenoiser({"target": REF + "denoiser_scaling.EpsScaling"}, 1000, DDPM, quantize_c_noise=False)
    continuous(network, x, between, {})
    assert torch.allclose(seen["c_noise"], sigmas[[10, 501]])


def test_weightings_match_their_formulas():
    assert torch.allclose(UnitWeighting()(SIGMAS), torch.ones_like(SIGMAS))
    assert torch.allclose(EpsWeighting()(SIGMAS), 1 / SIGMAS**2)
    _, c_out, _, _ = EDMScaling(0.5)(SIGMAS)
    assert torch.allclose(EDMWeighting(0.5)(SIGMAS), 1 / c_out**2)
    assert torch.allclose(VWeighting()(SIGMAS), EDMWeighting(1.0)(SIGMAS))


def test_edm_sampling_is_log_normal_and_maps_given_draws():
    sampler = EDMSampling(p_mean=-1.2, p_std=1.2)
    torch.manual_seed(0)
    log_sigmas = sampler(100_000).log()
    assert log_sigmas.mean().item() == pytest.approx(-1.2, abs=0.02)
    assert log_sigmas.std().item() == pytest.approx(1.2, abs=0.02)
    rand = torch.tensor([0.0, 1.0, -2.0])
    assert torch.allclose(sampler(3, rand=rand), (-1.2 + 1.2 * rand).exp())


def test_discrete_sampling_draws_the_discretizations_sigmas():
    sampler = DiscreteSampling(DDPM, num_idx=1000)
    sigmas = sampler.sigmas
    assert sigmas.shape == (1000,) and torch.all(sigmas[1:] > sigmas[:-1])
    torch.manual_seed(0)
    draws = sampler(500)
    assert torch.isin(draws, sigmas).all()
    assert torch.equal(sampler(2, rand=torch.tensor([0, 999])), sigmas[[0, 999]])
    assert torch.equal(ZeroSampler()(4), torch.full((4,), 1e-5))


@pytest.mark.parametrize(
    "sampler, draw",
    [
        (EDMSampling(), lambda n: torch.randn((n,))),
        (ZeroSampler(), lambda n: torch.randn((n,))),
        (DiscreteSampling(DDPM, num_idx=1000), lambda n: torch.randint(0, 1000, (n,))),
    ],
)
def test_sigma_samplers_consume_the_generator_like_the_reference_even_with_rand_given(sampler, draw):
    torch.manual_seed(5)
    sampler(6, rand=torch.zeros(6, dtype=torch.long))
    after = torch.rand(3)
    torch.manual_seed(5)
    draw(6)
    assert torch.equal(after, torch.rand(3))
