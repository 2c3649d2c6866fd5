"""Samplers on Gaussian data, where the exact denoiser and the probability-flow ODE solution are known in closed form.

For data N(mu, s^2): D(x, sigma) = mu + s^2 / (s^2 + sigma^2) (x - mu), and the ODE carries x from sigma_0 to sigma
along x(sigma) = mu + sqrt(s^2 + sigma^2) / sqrt(s^2 + sigma_0^2) (x(sigma_0) - mu).
"""

import pytest
import torch

from sgm.core.config import instantiate
from sgm.core.diffusion import samplers
from sgm.core.diffusion.samplers.steps import linear_multistep_coeff

MU, STD = 0.3, 0.8
EDM = {"target": "sgm.modules.diffusionmodules.discretizer.EDMDiscretization"}
DETERMINISTIC = ["EulerEDMSampler", "HeunEDMSampler", "DPM2Sampler", "DPMPP2MSampler", "LinearMultistepSampler"]


def gaussian_denoiser(x, sigma, cond, **extra):
    s = sigma.reshape(-1, *([1] * (x.ndim - 1)))
    return MU + STD**2 / (STD**2 + s**2) * (x - MU)


def build(name, **params):
    return getattr(samplers, name)(discretization_config=EDM, progress=False, **params)


def ode_endpoint(sampler, noise, num_steps):
    """Exact ODE solution from the first sigma (where the sampler scales the unit noise to) down to sigma = 0."""
    sigmas = sampler.discretization(num_steps).double()
    x_start = noise * torch.sqrt(1.0 + sigmas[0] ** 2)
    return MU + STD / torch.sqrt(STD**2 + sigmas[0] ** 2) * (x_start - MU)


def ode_error(name, num_steps, **params):
    sampler = build(name, **params)
    noise = torch.randn(64, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    return (
        (sampler(gaussian_denoiser, noise, {}, num_steps=num_steps) - ode_endpoint(sampler, noise, num_steps))
        .abs()
        .max()
    )


@pytest.mark.parametrize(
    "name, params",
    [(name, {}) for name in DETERMINISTIC] + [("DPMPP2MSDESampler", {"eta": 0.0}), ("DPMPP3MSDESampler", {"eta": 0.0})],
)
def test_deterministic_samplers_converge_to_the_analytic_ode_endpoint(name, params):
    errors = [ode_error(name, n, **params) for n in (20, 40, 80)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.1  # outputs are O(1) (the start is O(sigma_max = 80))


@pytest.mark.parametrize("name", ["HeunEDMSampler", "DPM2Sampler", "DPMPP2MSampler", "LinearMultistepSampler"])
def test_higher_order_samplers_converge_faster_than_euler(name):
    euler_ratio = ode_error("EulerEDMSampler", 40) / ode_error("EulerEDMSampler", 80)
    ratio = ode_error(name, 40) / ode_error(name, 80)
    assert 1.7 < euler_ratio < 2.3  # first order: halving the step halves the error
    assert ratio > 3.5  # at least second order
    assert ode_error(name, 40) < ode_error("EulerEDMSampler", 40) / 5


def test_dpmpp_2m_sde_without_noise_is_dpmpp_2m():
    noise = torch.randn(8, 2, dtype=torch.float64)
    deterministic = build("DPMPP2MSampler")(gaussian_denoiser, noise, {}, num_steps=12)
    sde = build("DPMPP2MSDESampler", eta=0.0)(gaussian_denoiser, noise, {}, num_steps=12)
    assert torch.allclose(sde, deterministic, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "name, params, steps, tolerance",
    [
        ("DPMPP2SAncestralSampler", {}, 50, 0.04),
        ("DPM2AncestralSampler", {}, 50, 0.04),
        ("HeunEDMSampler", {"s_churn": 20.0}, 50, 0.04),
        ("DPM2Sampler", {"s_churn": 20.0}, 50, 0.04),
        ("DPMPP2MSDESampler", {}, 50, 0.04),
        ("DPMPP2MSDESampler", {"solver_type": "heun"}, 50, 0.04),
        ("DPMPP3MSDESampler", {}, 50, 0.04),
        ("EulerAncestralSampler", {}, 200, 0.05),
        ("EulerEDMSampler", {"s_churn": 20.0}, 200, 0.05),
    ],
)
def test_stochastic_samplers_draw_the_data_distribution(name, params, steps, tolerance):
    torch.manual_seed(0)
    samples = build(name, **params)(gaussian_denoiser, torch.randn(6000, 1, dtype=torch.float64), {}, num_steps=steps)
    assert samples.mean().item() == pytest.approx(MU, abs=0.03)
    assert samples.std().item() == pytest.approx(STD, abs=tolerance)


@pytest.mark.parametrize("name", ["EulerAncestralSampler", "EulerEDMSampler"])
def test_first_order_stochastic_samplers_variance_bias_shrinks_with_steps(name):
    params = {"s_churn": 20.0} if name == "EulerEDMSampler" else {}
    biases = []
    for steps in (25, 100):
        torch.manual_seed(0)
        samples = build(name, **params)(
            gaussian_denoiser, torch.randn(6000, 1, dtype=torch.float64), {}, num_steps=steps
        )
        biases.append(abs(samples.std().item() - STD))
    assert biases[1] < biases[0] / 2


@pytest.mark.parametrize(
    "name, params, draws",
    [
        ("EulerEDMSampler", {}, 0),
        ("HeunEDMSampler", {}, 0),
        ("DPM2Sampler", {}, 0),
        ("DPMPP2MSampler", {}, 0),
        ("LinearMultistepSampler", {}, 0),
        ("EulerEDMSampler", {"s_churn": 1.0}, 6),  # churn noise on every step whose sigma is in [s_tmin, s_tmax]
        ("EulerEDMSampler", {"s_churn": 1.0, "s_tmin": 1.0}, 3),  # sigmas 80, 24.4, 5.84 of 80 ... 0.002
        ("EulerAncestralSampler", {}, 6),  # the last step draws too, and discards it
        ("DPMPP2SAncestralSampler", {}, 6),
        ("DPM2AncestralSampler", {}, 6),
        ("DPM2Sampler", {"s_churn": 1.0}, 6),
        ("DPMPP2MSDESampler", {}, 5),  # no noise on the step that lands on sigma = 0
        ("DPMPP3MSDESampler", {}, 5),
    ],
)
def test_samplers_draw_noise_in_the_references_order(name, params, draws):
    x = torch.randn(2, 3)
    sampler = build(name, **params)
    torch.manual_seed(11)
    sample = sampler(gaussian_denoiser, x, {}, num_steps=6)
    after = torch.randn(4)
    torch.manual_seed(11)
    for _ in range(draws):
        torch.randn_like(x)
    assert torch.equal(after, torch.randn(4))
    torch.manual_seed(11)
    assert torch.equal(sampler(gaussian_denoiser, x, {}, num_steps=6), sample)  # same seed, same sample


def test_different_seeds_give_different_ancestral_samples():
    x = torch.randn(2, 3)
    sampler = build("EulerAncestralSampler", num_steps=5)
    torch.manual_seed(1)
    first = sampler(gaussian_denoiser, x, {})
    torch.manual_seed(2)
    assert not torch.equal(first, sampler(gaussian_denoiser, x, {}))


@pytest.mark.parametrize(
    "name",
    [*DETERMINISTIC, "EulerAncestralSampler", "DPMPP2SAncestralSampler", "DPM2AncestralSampler", "DPMPP3MSDESampler"],
)
def test_cfg_scale_one_samples_like_no_guidance_and_keeps_dtype_and_input(name):
    calls = []

    def denoiser(x, sigma, cond):
        calls.append(cond["crossattn"].shape[0])
        return gaussian_denoiser(x, sigma, cond) + 0.01 * cond["crossattn"].reshape(-1, 1)

    x = torch.randn(3, 2, dtype=torch.float64)
    x_before = x.clone()
    cond, uc = (
        {"crossattn": torch.ones(3, 1, dtype=torch.float64)},
        {"crossattn": torch.zeros(3, 1, dtype=torch.float64)},
    )
    cfg = build(
        name, guider_config={"target": "sgm.modules.diffusionmodules.guiders.VanillaCFG", "params": {"scale": 1.0}}
    )
    torch.manual_seed(0)
    guided = cfg(denoiser, x, cond, uc, num_steps=4)
    assert set(calls) == {6}  # one batched call per evaluation: [uncond, cond]
    torch.manual_seed(0)
    plain = build(name)(denoiser, x, cond, num_steps=4)
    assert guided.dtype == torch.float64 and torch.equal(x, x_before)
    assert torch.allclose(guided, plain, rtol=1e-12, atol=1e-12)


def test_reference_sampler_config_builds_and_step_count_is_required():
    config = {
        "target": "sgm.modules.diffusionmodules.sampling.HeunEDMSampler",
        "params": {
            "num_steps": 3,
            "discretization_config": EDM,
            "guider_config": {"target": "sgm.modules.diffusionmodules.guiders.VanillaCFG", "params": {"scale": 5.0}},
            "s_churn": 0.0,
            "verbose": False,
        },
    }
    sampler = instantiate(config)
    assert isinstance(sampler, samplers.HeunEDMSampler) and sampler.num_steps == 3
    cond = {"crossattn": torch.zeros(1, 1)}
    assert sampler(gaussian_denoiser, torch.randn(1, 2), cond, cond).shape == (1, 2)
    with pytest.raises(ValueError, match="needs a step count"):
        build("EulerEDMSampler")(gaussian_denoiser, torch.randn(1, 2), {})


def test_linear_multistep_weights_integrate_polynomials_exactly():
    """Order-k Adams weights integrate any polynomial of degree < k through the nodes exactly."""
    t = [4.0, 2.5, 1.5, 0.7, 0.2]
    for order in (1, 2, 3):
        i = order  # the first step with enough history for this order, plus one
        weights = [linear_multistep_coeff(order, t, i, j) for j in range(order)]
        for degree in range(order):
            values = [t[i - j] ** degree for j in range(order)]
            exact = (t[i + 1] ** (degree + 1) - t[i] ** (degree + 1)) / (degree + 1)
            assert sum(w * v for w, v in zip(weights, values)) == pytest.approx(exact, rel=1e-9)
