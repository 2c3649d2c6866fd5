"""Training noise levels: each sampler draws `n_samples` sigmas, or maps the given `rand` draws to sigmas.

The reference draws its random numbers even when `rand` is given (it builds the default eagerly); these do the
same, so a training run consumes the global generator exactly as the reference's does.
"""

from collections.abc import Mapping

import torch

from sgm.core.config import instantiate


class EDMSampling:
    """log sigma ~ N(p_mean, p_std^2) (Karras et al. 2022, section 5)."""

    def __init__(self, p_mean: float = -1.2, p_std: float = 1.2):
        self.p_mean = p_mean
        self.p_std = p_std

    def __call__(self, n_samples: int, rand: torch.Tensor | None = None) -> torch.Tensor:
        draw = torch.randn((n_samples,))
        log_sigma = self.p_mean + self.p_std * (draw if rand is None else rand)
        return log_sigma.exp()


class DiscreteSampling:
    """sigma drawn uniformly from the `num_idx` sigmas of a discretization (`rand` holds indices)."""

    def __init__(self, discretization_config: Mapping, num_idx: int, do_append_zero: bool = False, flip: bool = True):
        self.num_idx = num_idx
        self.sigmas = instantiate(discretization_config)(num_idx, do_append_zero=do_append_zero, flip=flip)

    def idx_to_sigma(self, idx: torch.Tensor | int) -> torch.Tensor:
        return self.sigmas[idx]

    def __call__(self, n_samples: int, rand: torch.Tensor | None = None) -> torch.Tensor:
        draw = torch.randint(0, self.num_idx, (n_samples,))
        return self.idx_to_sigma(draw if rand is None else rand)


class ZeroSampler:
    """sigma = 1e-5 for every sample: training a decoder-like model on (almost) clean inputs."""

    def __call__(self, n_samples: int, rand: torch.Tensor | None = None) -> torch.Tensor:
        draw = torch.randn((n_samples,))
        return torch.zeros_like(draw if rand is None else rand) + 1.0e-5
