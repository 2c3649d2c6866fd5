"""DPM2 and DPM2 ancestral against k-diffusion's update equations (`sample_dpm_2`, `sample_dpm_2_ancestral`),
written out here from the math on a toy non-linear denoiser, one step at a time and over a whole run."""

import math

import pytest
import torch

from sgm.core.diffusion.discretization import EDMDiscretization
from sgm.core.diffusion.samplers import DPM2AncestralSampler, DPM2Sampler

EDM = {"target": "sgm.core.diffusion.discretization.EDMDiscretization"}


def toy_denoiser(x, sigma, cond, **extra):
    """Non-linear in x and in sigma, so a wrong evaluation point shows."""
    s = sigma.reshape(-1, *([1] * (x.ndim - 1)))
    return torch.tanh(x) * s / (1 + s**2) + 0.1 * x * torch.cos(s)


def slope(x, sigma):
    """dx/dsigma = (x - D(x, sigma)) / sigma at a scalar sigma."""
    return (x - toy_denoiser(x, torch.full((x.shape[0],), sigma, dtype=x.dtype), {})) / sigma


def dpm2_by_hand(x, sigma, sigma_to):
    """Euler to sigma_mid = sqrt(sigma sigma_to) (the midpoint in log sigma), then the whole step with the slope
    there; the step to sigma_to = 0 is Euler."""
    if sigma_to == 0:
        return x + slope(x, sigma) * (0 - sigma)
    sigma_mid = math.sqrt(sigma * sigma_to)
    x_mid = x + slope(x, sigma) * (sigma_mid - sigma)
    return x + slope(x_mid, sigma_mid) * (sigma_to - sigma)


def ancestral_sigmas_by_hand(sigma, sigma_to):
    """(sigma_down, sigma_up) with eta = 1: sigma_up^2 = sigma_to^2 (sigma^2 - sigma_to^2) / sigma^2 (at most
    sigma_to), sigma_down^2 = sigma_to^2 - sigma_up^2."""
    sigma_up = min(sigma_to, math.sqrt(sigma_to**2 * (sigma**2 - sigma_to**2) / sigma**2))
    return math.sqrt(sigma_to**2 - sigma_up**2), sigma_up


def step(sampler, x, sigma, sigma_to, **kwargs):
    s_in = x.new_ones(x.shape[0])
    return sampler.sampler_step(s_in * sigma, s_in * sigma_to, toy_denoiser, x, {}, {}, **kwargs)


X = torch.linspace(-2.0, 3.0, 12, dtype=torch.float64).reshape(4, 3)


@pytest.mark.parametrize("sigma, sigma_to", [(14.6, 7.3), (2.0, 1.1), (0.5, 0.03), (0.03, 0.0)])
def test_dpm2_step_is_the_log_sigma_midpoint_rule(sigma, sigma_to):
    sampler = DPM2Sampler(discretization_config=EDM, progress=False)
    expected = dpm2_by_hand(X, sigma, sigma_to)
    assert torch.allclose(step(sampler, X, sigma, sigma_to), expected, rtol=1e-12, atol=1e-12)


def test_dpm2_churn_raises_sigma_with_fresh_noise_then_steps_from_sigma_hat():
    sampler = DPM2Sampler(discretization_config=EDM, s_noise=1.003, progress=False)
    sigma, sigma_to, gamma = 3.0, 1.5, 0.25
    torch.manual_seed(5)
    stepped = step(sampler, X, sigma, sigma_to, gamma=gamma)
    torch.manual_seed(5)
    sigma_hat = sigma * (1 + gamma)
    x_hat = X + torch.randn_like(X) * 1.003 * math.sqrt(sigma_hat**2 - sigma**2)
    assert torch.allclose(stepped, dpm2_by_hand(x_hat, sigma_hat, sigma_to), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("sigma, sigma_to", [(14.6, 7.3), (0.5, 0.03), (0.03, 0.0)])
def test_dpm2_ancestral_step_goes_to_sigma_down_then_adds_sigma_up_noise(sigma, sigma_to):
    sampler = DPM2AncestralSampler(discretization_config=EDM, s_noise=0.9, progress=False)
    noise = torch.linspace(1.0, -1.0, 12, dtype=torch.float64).reshape(4, 3)
    sampler.noise_sampler = lambda x: noise
    sigma_down, sigma_up = ancestral_sigmas_by_hand(sigma, sigma_to)
    expected = dpm2_by_hand(X, sigma, sigma_down) + noise * 0.9 * sigma_up
    assert torch.allclose(step(sampler, X, sigma, sigma_to), expected, rtol=1e-12, atol=1e-12)


def test_a_whole_dpm2_run_is_the_hand_written_loop():
    sigmas = EDMDiscretization()(5).double().tolist()
    x = X * math.sqrt(1 + sigmas[0] ** 2)  # unit noise scaled to the first level's marginal std
    for sigma, sigma_to in zip(sigmas[:-1], sigmas[1:]):
        x = dpm2_by_hand(x, sigma, sigma_to)
    sample = DPM2Sampler(discretization_config=EDM, progress=False)(toy_denoiser, X, {}, num_steps=5)
    assert torch.allclose(sample, x, rtol=1e-6, atol=1e-9)  # the sampler's sigmas are float32


def test_dpm2_ancestral_without_noise_is_dpm2():
    noise = torch.randn(8, 2, dtype=torch.float64)
    deterministic = DPM2Sampler(discretization_config=EDM, progress=False)(toy_denoiser, noise, {}, num_steps=7)
    ancestral = DPM2AncestralSampler(discretization_config=EDM, eta=0.0, progress=False)
    assert torch.equal(ancestral(toy_denoiser, noise, {}, num_steps=7), deterministic)


def test_dpm2_calls_the_denoiser_twice_per_step_but_once_on_the_step_to_zero():
    calls = []

    def counting(x, sigma, cond):
        calls.append(float(sigma[0]))
        return toy_denoiser(x, sigma, cond)

    DPM2Sampler(discretization_config=EDM, progress=False)(counting, X, {}, num_steps=4)
    assert len(calls) == 2 * 3 + 1


@pytest.mark.parametrize("sampler_class, tolerance", [(DPM2Sampler, 0.005), (DPM2AncestralSampler, 0.03)])
def test_samples_of_gaussian_data_approach_its_variance_with_more_steps(sampler_class, tolerance):
    """Data N(0, s^2) has the ideal denoiser D(x, sigma) = x s^2 / (s^2 + sigma^2)."""
    data_std = 0.8

    def gaussian_denoiser(x, sigma, cond):
        return x * data_std**2 / (data_std**2 + sigma.reshape(-1, 1) ** 2)

    torch.manual_seed(0)
    noise = torch.randn(20000, 1, dtype=torch.float64)
    noise = (noise - noise.mean()) / noise.std()  # sample variance exactly 1
    sampler = sampler_class(discretization_config=EDM, progress=False)
    errors = [abs(sampler(gaussian_denoiser, noise, {}, num_steps=n).var().item() - data_std**2) for n in (5, 20, 80)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < tolerance
