"""Denoiser preconditioning: D(x, sigma) = c_skip x + c_out F(c_in x, c_noise), for each network parameterization.

Each scaling maps sigma to `(c_skip, c_out, c_in, c_noise)` (Karras et al. 2022, table 1).
"""

from abc import ABC, abstractmethod

import torch

Scalings = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class DenoiserScaling(ABC):
    @abstractmethod
    def __call__(self, sigma: torch.Tensor) -> Scalings:
        """`(c_skip, c_out, c_in, c_noise)` for noise levels `sigma`."""


class EDMScaling(DenoiserScaling):
    """EDM preconditioning for data of standard deviation `sigma_data` (Karras et al. 2022, eq. 7)."""

    def __init__(self, sigma_data: float = 0.5):
        self.sigma_data = sigma_data

    def __call__(self, sigma: torch.Tensor) -> Scalings:
        c_skip = self.sigma_data**2 / (sigma**2 + self.sigma_data**2)
        c_out = sigma * self.sigma_data / (sigma**2 + self.sigma_data**2) ** 0.5
        c_in = 1 / (sigma**2 + self.sigma_data**2) ** 0.5
        c_noise = 0.25 * sigma.log()
        return c_skip, c_out, c_in, c_noise


class EpsScaling(DenoiserScaling):
    """The network predicts the noise: D = x - sigma eps (Ho et al. 2020 in the VE form); c_noise = sigma."""

    def __call__(self, sigma: torch.Tensor) -> Scalings:
        c_skip = torch.ones_like(sigma)
        c_out = -sigma
        c_in = 1 / (sigma**2 + 1.0) ** 0.5
        c_noise = sigma.clone()
        return c_skip, c_out, c_in, c_noise


class VScaling(DenoiserScaling):
    """The network predicts v = alpha eps - sigma_vp x0 (Salimans & Ho 2022) for unit-variance data; c_noise = sigma."""

    def __call__(self, sigma: torch.Tensor) -> Scalings:
        c_skip = 1.0 / (sigma**2 + 1.0)
        c_out = -sigma / (sigma**2 + 1.0) ** 0.5
        c_in = 1.0 / (sigma**2 + 1.0) ** 0.5
        c_noise = sigma.clone()
        return c_skip, c_out, c_in, c_noise


class VScalingWithEDMcNoise(VScaling):
    """v-prediction with the EDM noise conditioning c_noise = log(sigma) / 4 (SVD, SV3D, SV4D)."""

    def __call__(self, sigma: torch.Tensor) -> Scalings:
        c_skip, c_out, c_in, _ = super().__call__(sigma)
        return c_skip, c_out, c_in, 0.25 * sigma.log()
