"""Deterministic multistep samplers: they reuse earlier denoiser outputs instead of extra evaluations."""

from collections.abc import Mapping
from typing import Any

import torch

from sgm.core.diffusion.samplers.base import BaseDiffusionSampler
from sgm.core.diffusion.samplers.steps import linear_multistep_coeff, to_d, to_neg_log_sigma, to_sigma
from sgm.core.diffusion.tensor_shapes import append_dims


class DPMPP2MSampler(BaseDiffusionSampler):
    """DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", algorithm 2): second order from the previous step's
    denoiser output; the first step and the step to sigma = 0 are first order."""

    def get_variables(self, sigma, next_sigma, previous_sigma=None):
        """`(h, r, t, t_next)` in t = -log sigma; r = h_last / h (None on the first step)."""
        t, t_next = to_neg_log_sigma(sigma), to_neg_log_sigma(next_sigma)
        h = t_next - t
        if previous_sigma is None:
            return h, None, t, t_next
        h_last = t - to_neg_log_sigma(previous_sigma)
        return h, h_last / h, t, t_next

    def get_mult(self, h, r, t, t_next, previous_sigma):
        """sigma_next / sigma, expm1(-h), and (after the first step) the extrapolation weights 1 + 1/2r, 1/2r."""
        mult1 = to_sigma(t_next) / to_sigma(t)
        mult2 = (-h).expm1()
        if previous_sigma is None:
            return mult1, mult2
        return mult1, mult2, 1 + 1 / (2 * r), 1 / (2 * r)

    def sampler_step(
        self, old_denoised, previous_sigma, sigma, next_sigma, denoiser, x, cond, uc=None, **extra
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`(next x, this step's denoiser output)`."""
        denoised = self.denoise(x, denoiser, sigma, cond, uc, **extra)
        h, r, t, t_next = self.get_variables(sigma, next_sigma, previous_sigma)
        mult = [append_dims(m, x.ndim) for m in self.get_mult(h, r, t, t_next, previous_sigma)]
        x_standard = mult[0] * x - mult[1] * denoised
        if old_denoised is None or torch.sum(next_sigma) < 1e-14:
            return x_standard, denoised
        denoised_d = mult[2] * denoised - mult[3] * old_denoised
        x_advanced = mult[0] * x - mult[1] * denoised_d
        return torch.where(append_dims(next_sigma, x.ndim) > 0.0, x_advanced, x_standard), denoised

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
        old_denoised = None
        for i in self.get_sigma_gen(num_sigmas):
            previous_sigma = None if i == 0 else s_in * sigmas[i - 1]
            x, old_denoised = self.sampler_step(
                old_denoised, previous_sigma, s_in * sigmas[i], s_in * sigmas[i + 1], denoiser, x, cond, uc, **extra
            )
        return x


class LinearMultistepSampler(BaseDiffusionSampler):
    """Linear multistep (Adams-Bashforth in sigma) of up to `order` past derivatives (k-diffusion's `sample_lms`)."""

    def __init__(self, order: int = 4, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if order < 1:
            raise ValueError(f"LinearMultistepSampler order must be at least 1, got {order}")
        self.order = order

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
        derivatives = []
        sigmas_cpu = sigmas.detach().cpu().numpy()
        for i in self.get_sigma_gen(num_sigmas):
            sigma = s_in * sigmas[i]
            derivatives.append(to_d(x, sigma, self.denoise(x, denoiser, sigma, cond, uc, **extra)))
            if len(derivatives) > self.order:
                derivatives.pop(0)
            cur_order = min(i + 1, self.order)
            coeffs = [linear_multistep_coeff(cur_order, sigmas_cpu, i, j) for j in range(cur_order)]
            x = x + sum(coeff * d for coeff, d in zip(coeffs, reversed(derivatives)))
        return x
