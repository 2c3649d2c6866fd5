"""Noise schedules: end points, monotonicity, the DDPM closed form, the img2img / refiner handoff wrappers."""

import math

import numpy as np
import pytest
import torch

from sgm.core.config import instantiate
from sgm.core.diffusion.discretization import (
    DiscardPenultimateSigmaWrapper,
    EDMDiscretization,
    ExponentialDiscretization,
    Img2ImgDiscretizationWrapper,
    KarrasDiscretization,
    LegacyDDPMDiscretization,
    NormalDiscretization,
    SGMUniformDiscretization,
    Txt2NoisyDiscretizationWrapper,
)

ALL_SCHEDULES = [
    EDMDiscretization(),
    EDMDiscretization(sigma_min=0.03, sigma_max=14.61, rho=3.0),
    LegacyDDPMDiscretization(),
    KarrasDiscretization(),
    ExponentialDiscretization(),
    SGMUniformDiscretization(),
    NormalDiscretization(),
    NormalDiscretization(linear_start=0.0001, linear_end=0.02, num_timesteps=500),
    DiscardPenultimateSigmaWrapper(KarrasDiscretization()),
]


def ddpm_sigmas_from_betas(linear_start=0.00085, linear_end=0.012, num_timesteps=1000) -> np.ndarray:
    """sigma_t = sqrt((1 - abar_t) / abar_t), abar_t = prod (1 - beta_s), sqrt(beta) linear: written from the paper."""
    betas = np.linspace(math.sqrt(linear_start), math.sqrt(linear_end), num_timesteps) ** 2
    alphas_cumprod = np.cumprod(1.0 - betas)
    return np.sqrt((1.0 - alphas_cumprod) / alphas_cumprod)


@pytest.mark.parametrize("schedule", ALL_SCHEDULES, ids=lambda s: type(s).__name__)
@pytest.mark.parametrize("n", [1, 2, 7, 50])
def test_schedules_are_float32_decreasing_with_zero_appended_and_flippable(schedule, n):
    sigmas = schedule(n)
    assert sigmas.dtype == torch.float32 and sigmas.shape == (n + 1,)
    assert sigmas[-1] == 0 and torch.all(sigmas[:-1] > 0)
    assert torch.all(sigmas[1:] < sigmas[:-1])
    assert torch.equal(schedule(n, do_append_zero=False), sigmas[:-1])
    assert torch.equal(schedule(n, flip=True), torch.flip(sigmas, (0,)))


def test_edm_schedule_runs_from_sigma_max_to_sigma_min_linear_in_sigma_to_the_one_over_rho():
    schedule = EDMDiscretization(sigma_min=0.002, sigma_max=80.0, rho=7.0)
    sigmas = schedule(25, do_append_zero=False).double()
    assert sigmas[0].item() == pytest.approx(80.0, rel=1e-6)
    assert sigmas[-1].item() == pytest.approx(0.002, rel=1e-5)
    root = sigmas ** (1 / 7)
    steps = root[1:] - root[:-1]
    assert torch.allclose(steps, steps.mean().expand_as(steps), rtol=1e-4)


def test_legacy_ddpm_matches_the_closed_form_of_its_beta_schedule():
    expected = ddpm_sigmas_from_betas()
    schedule = LegacyDDPMDiscretization()
    np.testing.assert_allclose(schedule.alphas_cumprod, 1 / (1 + expected**2), rtol=1e-12)
    full = schedule(1000, do_append_zero=False).double().numpy()
    np.testing.assert_allclose(full, expected[::-1], rtol=1e-6)
    assert full[0] == pytest.approx(14.6146, abs=1e-4) and full[-1] == pytest.approx(0.0292, abs=1e-4)


def test_legacy_ddpm_subsets_are_its_own_sigmas_at_roughly_equal_steps_ending_at_the_last_timestep():
    full = LegacyDDPMDiscretization()(1000, do_append_zero=False)
    for n in (2, 10, 37, 999):
        subset = LegacyDDPMDiscretization()(n, do_append_zero=False)
        indices = [int(torch.nonzero(full == s)[0]) for s in subset]
        assert indices[0] == 0  # the largest sigma (t = 999) is always the first
        assert np.ptp(np.diff(indices)) <= 1


def test_legacy_ddpm_rejects_more_steps_than_timesteps_and_non_positive_counts():
    with pytest.raises(ValueError, match="at most 1000"):
        LegacyDDPMDiscretization()(1001)
    with pytest.raises(ValueError, match="positive integer"):
        EDMDiscretization()(0)


def test_karras_and_exponential_span_the_discrete_models_sigma_range():
    full = LegacyDDPMDiscretization()(1000, do_append_zero=False)
    for schedule in (KarrasDiscretization(), ExponentialDiscretization()):
        sigmas = schedule(12, do_append_zero=False)
        assert sigmas[0].item() == pytest.approx(full[0].item(), rel=1e-6)
        assert sigmas[-1].item() == pytest.approx(full[-1].item(), rel=1e-5)
    log_steps = torch.diff(ExponentialDiscretization()(12, do_append_zero=False).double().log())
    assert torch.allclose(log_steps, log_steps.mean().expand_as(log_steps), rtol=1e-4)
    karras = KarrasDiscretization(rho=7.0)(12, do_append_zero=False)
    edm = EDMDiscretization(float(full[-1]), float(full[0]), 7.0)(12, do_append_zero=False)
    assert torch.allclose(karras, edm)


def test_sgm_uniform_hits_the_model_sigmas_at_integer_timesteps_from_the_top_excluding_zero():
    full = LegacyDDPMDiscretization()(1000, flip=True, do_append_zero=False)  # ascending: full[t] is sigma at t
    sigmas = SGMUniformDiscretization()(111, do_append_zero=False)  # timesteps 999, 990, ..., 9
    expected = full[torch.arange(999, 0, -9)]
    assert torch.allclose(sigmas, expected, rtol=1e-5)


@pytest.mark.parametrize("n", [1, 2, 7, 112])
def test_normal_runs_from_the_models_largest_to_its_smallest_sigma(n):
    full = LegacyDDPMDiscretization()(1000, do_append_zero=False)  # the model's sigmas, largest first
    sigmas = NormalDiscretization()(n, do_append_zero=False)
    assert sigmas[0] == full[0]
    if n > 1:
        assert sigmas[-1].item() == pytest.approx(full[-1].item(), rel=1e-6)
        assert torch.all(sigmas[1:] < sigmas[:-1])


def test_normal_hits_the_model_sigmas_at_evenly_spaced_timesteps_including_zero():
    full = LegacyDDPMDiscretization()(1000, flip=True, do_append_zero=False)  # ascending: full[t] is sigma at t
    sigmas = NormalDiscretization()(112, do_append_zero=False)  # timesteps 999, 990, ..., 9, 0
    assert torch.allclose(sigmas, full[torch.arange(999, -1, -9)], rtol=1e-5)


def test_normal_between_integer_timesteps_is_linear_in_log_sigma():
    full = LegacyDDPMDiscretization()(1000, flip=True, do_append_zero=False).double()
    sigmas = NormalDiscretization()(7, do_append_zero=False).double()  # timesteps 999, 832.5, ..., 166.5, 0
    for k, sigma in enumerate(sigmas):
        t = 999 * (1 - k / 6)
        low, w = int(t), t - int(t)
        expected = math.exp((1 - w) * math.log(full[low]) + w * math.log(full[min(low + 1, 999)]))
        assert sigma.item() == pytest.approx(expected, rel=1e-6)


def test_sgm_uniform_is_normal_one_step_longer_without_its_smallest_sigma():
    for n in (1, 4, 25):
        assert torch.allclose(SGMUniformDiscretization()(n), DiscardPenultimateSigmaWrapper(NormalDiscretization())(n))


def test_discard_penultimate_keeps_n_steps_of_the_n_plus_one_schedule_without_its_smallest_sigma():
    schedule = KarrasDiscretization()
    longer = schedule(9)
    discarded = DiscardPenultimateSigmaWrapper(schedule)(8)
    assert discarded.shape == (9,)
    assert torch.equal(discarded, torch.cat([longer[:-2], longer[-1:]]))
    config = {"target": "sgm.core.diffusion.discretization.KarrasDiscretization"}
    assert torch.equal(DiscardPenultimateSigmaWrapper(config)(8), discarded)


def test_img2img_keeps_the_smallest_strength_fraction_of_sigmas():
    schedule = EDMDiscretization()
    full = schedule(10)
    assert torch.equal(Img2ImgDiscretizationWrapper(schedule, strength=1.0)(10), full)
    half = Img2ImgDiscretizationWrapper(schedule, strength=0.5)(10)
    assert torch.equal(half, full[-5:])
    assert torch.equal(Img2ImgDiscretizationWrapper(schedule, strength=0.0)(10), full[-1:])


def test_txt2noisy_then_img2img_hand_off_at_the_same_sigma():
    config = {"target": "sgm.modules.diffusionmodules.discretizer.LegacyDDPMDiscretization"}
    steps, strength = 40, 0.2
    base = Txt2NoisyDiscretizationWrapper(config, strength=strength, original_steps=steps)(steps)
    refiner = Img2ImgDiscretizationWrapper(instantiate(config), strength=strength)(steps)
    full = instantiate(config)(steps)
    assert torch.equal(base, full[: len(base)]) and base[-1] > 0
    assert refiner[0] == base[-1] and refiner[-1] == 0
    assert torch.equal(Txt2NoisyDiscretizationWrapper(config, strength=0.0)(steps), full)


@pytest.mark.parametrize("wrapper", [Img2ImgDiscretizationWrapper, Txt2NoisyDiscretizationWrapper])
def test_wrappers_reject_strength_outside_zero_one(wrapper):
    with pytest.raises(ValueError, match="between 0.0 and 1.0"):
        wrapper(EDMDiscretization(), strength=1.5)
