"""Loss weightings lambda(sigma) (the reference's `denoiser_weighting` and `loss_weighting` hold the same classes)."""

from abc import ABC, abstractmethod

import torch


class DiffusionLossWeighting(ABC):
    @abstractmethod
    def __call__(self, sigma: torch.Tensor) -> torch.Tensor:
        """The weight of the denoising error at noise level `sigma`."""


class UnitWeighting(DiffusionLossWeighting):
    """lambda = 1."""

    def __call__(self, sigma: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(sigma)


class EDMWeighting(DiffusionLossWeighting):
    """lambda = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2 = 1 / c_out^2 (Karras et al. 2022, eq. 8)."""

    def __init__(self, sigma_data: float = 0.5):
        self.sigma_data = sigma_data

    def __call__(self, sigma: torch.Tensor) -> torch.Tensor:
        return (sigma**2 + self.sigma_data**2) / (sigma * self.sigma_data) ** 2


class VWeighting(EDMWeighting):
    """The EDM weighting with sigma_data = 1: equal weight on the v-prediction error."""

    def __init__(self):
        super().__init__(sigma_data=1.0)


class EpsWeighting(DiffusionLossWeighting):
    """lambda = 1 / sigma^2: equal weight on the noise-prediction error."""

    def __call__(self, sigma: torch.Tensor) -> torch.Tensor:
        return sigma**-2.0
