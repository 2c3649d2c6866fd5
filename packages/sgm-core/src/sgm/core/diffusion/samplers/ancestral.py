"""Ancestral samplers: a deterministic step down to sigma_down, then fresh noise up to the next sigma.

Noise is drawn on every step, the last included (where it is then discarded), as the reference does, so a seed
gives the reference's sample. `noise_sampler(x)` may be replaced (e.g. by seeded noise per step).
"""

from collections.abc import Mapping
from typing import Any

import torch

from sgm.core.diffusion.samplers.base import SingleStepDiffusionSampler
from sgm.core.diffusion.samplers.steps import (
    dpm_solver_2_step,
    get_ancestral_step,
    to_d,
    to_neg_log_sigma,
    to_sigma,
)
from sgm.core.diffusion.tensor_shapes import append_dims


class AncestralSampler(SingleStepDiffusionSampler):
    """eta: the share of each step's noise that is renewed (1: fully ancestral, 0: deterministic);
    s_noise: the std of the added noise."""

    def __init__(self, eta: float = 1.0, s_noise: float = 1.0, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.eta = eta
        self.s_noise = s_noise
        self.noise_sampler = torch.randn_like

    def ancestral_euler_step(self, x, denoised, sigma, sigma_down) -> torch.Tensor:
        d = to_d(x, sigma, denoised)
        return self.euler_step(x, d, append_dims(sigma_down - sigma, x.ndim))

    def ancestral_step(self, x, sigma, next_sigma, sigma_up) -> torch.Tensor:
        noised = x + self.noise_sampler(x) * self.s_noise * append_dims(sigma_up, x.ndim)
        return torch.where(append_dims(next_sigma, x.ndim) > 0.0, noised, x)

    def sampler_step(self, sigma, next_sigma, denoiser, x, cond, uc=None, **extra) -> torch.Tensor:
        raise NotImplementedError

    def __call__(
        self,
        denoiser: Any,
        x: torch.Tensor,
        cond: Mapping,
        uc: Mapping | None = None,
        num_steps: int | None = None,
        **extra: Any,
    ) -> torch.Tensor:
        x, s_in, sigmas, num_sigmas, cond, uc = self.prepare_sampling_loop(x, cond, uc, num_steps)
        for i in self.get_sigma_gen(num_sigmas):
            x = self.sampler_step(s_in * sigmas[i], s_in * sigmas[i + 1], denoiser, x, cond, uc, **extra)
        return x


class EulerAncestralSampler(AncestralSampler):
    """Euler step to sigma_down, then noise (k-diffusion's `sample_euler_ancestral`)."""

    def sampler_step(self, sigma, next_sigma, denoiser, x, cond, uc=None, **extra) -> torch.Tensor:
        sigma_down, sigma_up = get_ancestral_step(sigma, next_sigma, eta=self.eta)
        denoised = self.denoise(x, denoiser, sigma, cond, uc, **extra)
        x = self.ancestral_euler_step(x, denoised, sigma, sigma_down)
        return self.ancestral_step(x, sigma, next_sigma, sigma_up)


class DPMPP2SAncestralSampler(AncestralSampler):
    """DPM-Solver++(2S) step to sigma_down, then noise (Lu et al. 2022, "DPM-Solver++", algorithm 1)."""

    def get_variables(self, sigma, sigma_down):
        """`(h, s, t, t_next)` in t = -log sigma, s being the midpoint."""
        t, t_next = to_neg_log_sigma(sigma), to_neg_log_sigma(sigma_down)
        h = t_next - t
        return h, t + 0.5 * h, t, t_next

    def get_mult(self, h, s, t, t_next):
        """sigma_s / sigma_t, expm1(-h/2), sigma_next / sigma_t, expm1(-h)."""
        return to_sigma(s) / to_sigma(t), (-0.5 * h).expm1(), to_sigma(t_next) / to_sigma(t), (-h).expm1()

    def sampler_step(self, sigma, next_sigma, denoiser, x, cond, uc=None, **extra) -> torch.Tensor:
        sigma_down, sigma_up = get_ancestral_step(sigma, next_sigma, eta=self.eta)
        denoised = self.denoise(x, denoiser, sigma, cond, uc, **extra)
        x_euler = self.ancestral_euler_step(x, denoised, sigma, sigma_down)
        if torch.sum(sigma_down) < 1e-14:
            x = x_euler  # every sample lands at sigma = 0: skip the midpoint evaluation
        else:
            h, s, t, t_next = self.get_variables(sigma, sigma_down)
            mult = [append_dims(m, x.ndim) for m in self.get_mult(h, s, t, t_next)]
            x_mid = mult[0] * x - mult[1] * denoised
            denoised_mid = self.denoise(x_mid, denoiser, to_sigma(s), cond, uc, **extra)
            x_dpmpp2s = mult[2] * x - mult[3] * denoised_mid
            x = torch.where(append_dims(sigma_down, x.ndim) > 0.0, x_dpmpp2s, x_euler)
        return self.ancestral_step(x, sigma, next_sigma, sigma_up)


class DPM2AncestralSampler(AncestralSampler):
    """DPM-Solver-2 step (Lu et al. 2022) to sigma_down, then noise (k-diffusion's `sample_dpm_2_ancestral`)."""

    def sampler_step(self, sigma, next_sigma, denoiser, x, cond, uc=None, **extra) -> torch.Tensor:
        def denoise(x_at, sigma_at):
            return self.denoise(x_at, denoiser, sigma_at, cond, uc, **extra)

        sigma_down, sigma_up = get_ancestral_step(sigma, next_sigma, eta=self.eta)
        x = dpm_solver_2_step(x, denoise(x, sigma), sigma, sigma_down, denoise)
        return self.ancestral_step(x, sigma, next_sigma, sigma_up)
