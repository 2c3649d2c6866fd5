"""The EDM samplers (Karras et al. 2022, algorithm 2): optional "churn" noise, then an Euler, Heun or DPM2 step."""

from collections.abc import Mapping
from typing import Any

import torch

from sgm.core.diffusion.samplers.base import SingleStepDiffusionSampler
from sgm.core.diffusion.samplers.steps import dpm_solver_2_step, to_d
from sgm.core.diffusion.tensor_shapes import append_dims


class EDMSampler(SingleStepDiffusionSampler):
    """s_churn: total added noise over the run (0: deterministic); s_tmin, s_tmax: the sigma range where churn
    applies; s_noise: the std of the churn noise (slightly above 1 offsets detail loss)."""

    def __init__(
        self,
        s_churn: float = 0.0,
        s_tmin: float = 0.0,
        s_tmax: float = float("inf"),
        s_noise: float = 1.0,
        *args: Any,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.s_churn = s_churn
        self.s_tmin = s_tmin
        self.s_tmax = s_tmax
        self.s_noise = s_noise

    def possible_correction_step(self, euler_step, x, d, dt, next_sigma, denoiser, cond, uc, **extra) -> torch.Tensor:
        """The next x, given the Euler step to it (Euler: that step; Heun: a second-order correction)."""
        raise NotImplementedError

    def sampler_step(
        self,
        sigma: torch.Tensor,
        next_sigma: torch.Tensor,
        denoiser: Any,
        x: torch.Tensor,
        cond: Mapping,
        uc: Mapping | None = None,
        gamma: float = 0.0,
        **extra: Any,
    ) -> torch.Tensor:
        x, sigma_hat = self.add_churn(x, sigma, gamma)
        denoised = self.denoise(x, denoiser, sigma_hat, cond, uc, **extra)
        d = to_d(x, sigma_hat, denoised)
        dt = append_dims(next_sigma - sigma_hat, x.ndim)
        return self.possible_correction_step(
            self.euler_step(x, d, dt), x, d, dt, next_sigma, denoiser, cond, uc, **extra
        )

    def add_churn(self, x: torch.Tensor, sigma: torch.Tensor, gamma: float) -> tuple[torch.Tensor, torch.Tensor]:
        """`(x, sigma_hat)`: the noise level raised from sigma to sigma_hat = (1 + gamma) sigma by fresh noise
        (Karras et al. 2022, algorithm 2, lines 5-6); noise is drawn only where gamma > 0."""
        sigma_hat = sigma * (gamma + 1.0)
        if gamma > 0:
            eps = torch.randn_like(x) * self.s_noise
            x = x + eps * append_dims(sigma_hat**2 - sigma**2, x.ndim) ** 0.5
        return x, sigma_hat

    def churn_gamma(self, sigma: torch.Tensor, num_sigmas: int) -> float:
        """gamma_i = min(S_churn / N, sqrt(2) - 1) inside [s_tmin, s_tmax], else 0."""
        return min(self.s_churn / (num_sigmas - 1), 2**0.5 - 1) if self.s_tmin <= sigma <= self.s_tmax else 0.0

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
            gamma = self.churn_gamma(sigmas[i], num_sigmas)
            x = self.sampler_step(s_in * sigmas[i], s_in * sigmas[i + 1], denoiser, x, cond, uc, gamma, **extra)
        return x


class EulerEDMSampler(EDMSampler):
    """First-order steps along the probability-flow ODE (with optional churn)."""

    def possible_correction_step(self, euler_step, x, d, dt, next_sigma, denoiser, cond, uc, **extra):
        return euler_step


class HeunEDMSampler(EDMSampler):
    """Second-order (trapezoidal) steps; the step to sigma = 0 stays Euler (Karras et al. 2022, algorithm 2)."""

    def possible_correction_step(self, euler_step, x, d, dt, next_sigma, denoiser, cond, uc, **extra):
        if torch.sum(next_sigma) < 1e-14:
            return euler_step  # every sample is at sigma = 0: no correction, no extra network call
        denoised = self.denoise(euler_step, denoiser, next_sigma, cond, uc, **extra)
        d_prime = (d + to_d(euler_step, next_sigma, denoised)) / 2.0
        return torch.where(append_dims(next_sigma, x.ndim) > 0.0, x + d_prime * dt, euler_step)


class DPM2Sampler(EDMSampler):
    """DPM-Solver-2 steps (Lu et al. 2022) with the churn of Karras et al. 2022, algorithm 2 (k-diffusion's
    `sample_dpm_2`): second order, two evaluations per step; the step to sigma = 0 stays Euler."""

    def sampler_step(self, sigma, next_sigma, denoiser, x, cond, uc=None, gamma=0.0, **extra) -> torch.Tensor:
        def denoise(x_at, sigma_at):
            return self.denoise(x_at, denoiser, sigma_at, cond, uc, **extra)

        x, sigma_hat = self.add_churn(x, sigma, gamma)
        return dpm_solver_2_step(x, denoise(x, sigma_hat), sigma_hat, next_sigma, denoise)
