"""DPM-Solver++ SDE samplers (Lu et al. 2022, "DPM-Solver++"; the multistep SDE variants of k-diffusion's
`sample_dpmpp_2m_sde` / `sample_dpmpp_3m_sde`).

With h = log(sigma_i / sigma_{i+1}), each step decays x by exp(-(1 + eta) h) toward the data prediction and adds
fresh noise of std sigma_{i+1} sqrt(1 - exp(-2 eta h)); eta = 0 gives the deterministic DPM-Solver++(2M)/(3M).
Noise comes from `noise_sampler(x)` (default `torch.randn_like`, one draw per step that does not end at sigma = 0),
where k-diffusion defaults to a Brownian tree; the marginals are the same.
"""

from collections.abc import Mapping
from typing import Any

import torch

from sgm.core.diffusion.samplers.base import BaseDiffusionSampler
from sgm.core.diffusion.tensor_shapes import append_dims


class DPMPPMultistepSDESampler(BaseDiffusionSampler):
    """Shared loop; subclasses give `high_order_correction`. eta: the SDE's noise share; s_noise: noise std."""

    # How many earlier denoiser outputs a step uses.
    history = 1

    def __init__(self, eta: float = 1.0, s_noise: float = 1.0, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.eta = eta
        self.s_noise = s_noise
        self.noise_sampler = torch.randn_like

    def high_order_correction(
        self,
        denoised: torch.Tensor,
        previous: list[torch.Tensor],
        h: torch.Tensor,
        h_eta: torch.Tensor,
        h_previous: list[torch.Tensor],
    ) -> torch.Tensor:
        """The term added to the first-order step, from earlier outputs `previous` and step sizes `h_previous`
        (newest first); h_eta = (1 + eta) h."""
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
        previous, h_previous = [], []
        for i in self.get_sigma_gen(num_sigmas):
            sigma, next_sigma = s_in * sigmas[i], s_in * sigmas[i + 1]
            denoised = self.denoise(x, denoiser, sigma, cond, uc, **extra)
            if sigmas[i + 1] == 0:
                x = denoised  # the last step lands on the data prediction
                continue
            h = append_dims(next_sigma.log().neg() - sigma.log().neg(), x.ndim)
            eta_h = self.eta * h
            ratio = append_dims(next_sigma / sigma, x.ndim)
            x = ratio * (-eta_h).exp() * x + (-h - eta_h).expm1().neg() * denoised
            x = x + self.high_order_correction(denoised, previous, h, h + eta_h, h_previous)
            if self.eta:
                noise_std = append_dims(next_sigma, x.ndim) * (-2 * eta_h).expm1().neg().sqrt()
                x = x + self.noise_sampler(x) * noise_std * self.s_noise
            previous = [denoised, *previous][: self.history]
            h_previous = [h, *h_previous][: self.history]
        return x


class DPMPP2MSDESampler(DPMPPMultistepSDESampler):
    """DPM-Solver++(2M) SDE; solver_type "midpoint" or "heun" picks the second-order correction."""

    def __init__(self, eta: float = 1.0, s_noise: float = 1.0, solver_type: str = "midpoint", *args, **kwargs):
        super().__init__(eta, s_noise, *args, **kwargs)
        if solver_type not in ("midpoint", "heun"):
            raise ValueError(f"solver_type must be 'midpoint' or 'heun', got {solver_type!r}")
        self.solver_type = solver_type

    def high_order_correction(self, denoised, previous, h, h_eta, h_previous):
        if not previous:
            return torch.zeros_like(denoised)
        phi_1 = (-h_eta).expm1().neg()
        slope = (denoised - previous[0]) * (h / h_previous[0])  # (D_i - D_{i-1}) / r, r = h_last / h
        if self.solver_type == "heun":
            return (phi_1 / (-h_eta) + 1) * slope
        return 0.5 * phi_1 * slope


class DPMPP3MSDESampler(DPMPPMultistepSDESampler):
    """DPM-Solver++(3M) SDE: third order from the two previous denoiser outputs."""

    history = 2

    def high_order_correction(self, denoised, previous, h, h_eta, h_previous):
        if not previous:
            return torch.zeros_like(denoised)
        phi_2 = h_eta.neg().expm1() / h_eta + 1
        r0 = h_previous[0] / h
        d1_0 = (denoised - previous[0]) / r0
        if len(previous) == 1:
            return phi_2 * d1_0
        r1 = h_previous[1] / h
        d1_1 = (previous[0] - previous[1]) / r1
        d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
        d2 = (d1_0 - d1_1) / (r0 + r1)
        phi_3 = phi_2 / h_eta - 0.5
        return phi_2 * d1 - phi_3 * d2
