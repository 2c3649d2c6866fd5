"""Denoisers: wrap a network F with a scaling so that D(x, sigma) = c_skip x + c_out F(c_in x, c_noise) estimates
the clean signal (Karras et al. 2022, eq. 7).

`denoiser(network, input, sigma, cond, **additional_model_inputs)`; `network(x, c_noise, cond, **extra)` is the
engine's wrapper around the UNet.
"""

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from sgm.core.config import instantiate
from sgm.core.diffusion.tensor_shapes import append_dims


class Denoiser(nn.Module):
    """A continuous-time denoiser: sigma and c_noise are passed to the network as they are."""

    def __init__(self, scaling_config: Mapping):
        super().__init__()
        self.scaling = instantiate(scaling_config)

    def possibly_quantize_sigma(self, sigma: torch.Tensor) -> torch.Tensor:
        return sigma

    def possibly_quantize_c_noise(self, c_noise: torch.Tensor) -> torch.Tensor:
        return c_noise

    def forward(
        self,
        network: nn.Module,
        input: torch.Tensor,
        sigma: torch.Tensor,
        cond: Mapping,
        **additional_model_inputs: Any,
    ) -> torch.Tensor:
        sigma = self.possibly_quantize_sigma(sigma)
        sigma_shape = sigma.shape
        sigma = append_dims(sigma, input.ndim)
        c_skip, c_out, c_in, c_noise = self.scaling(sigma)
        c_noise = self.possibly_quantize_c_noise(c_noise.reshape(sigma_shape))
        return network(input * c_in, c_noise, cond, **additional_model_inputs) * c_out + input * c_skip


class DiscreteDenoiser(Denoiser):
    """A denoiser for a network trained on `num_idx` discrete noise levels: sigma snaps to the nearest of them, and
    (with `quantize_c_noise`) the network gets that level's index as its timestep.

    `sigmas` is a persistent buffer (`denoiser.sigmas` in official checkpoints), ascending with the default `flip`.
    """

    def __init__(
        self,
        scaling_config: Mapping,
        num_idx: int,
        discretization_config: Mapping,
        do_append_zero: bool = False,
        quantize_c_noise: bool = True,
        flip: bool = True,
    ):
        super().__init__(scaling_config)
        self.discretization = instantiate(discretization_config)
        self.register_buffer("sigmas", self.discretization(num_idx, do_append_zero=do_append_zero, flip=flip))
        self.quantize_c_noise = quantize_c_noise
        self.num_idx = num_idx

    def sigma_to_idx(self, sigma: torch.Tensor) -> torch.Tensor:
        """The index of the nearest discrete sigma, for each entry of `sigma`."""
        distances = sigma - self.sigmas[:, None]
        return distances.abs().argmin(dim=0).view(sigma.shape)

    def idx_to_sigma(self, idx: torch.Tensor | int) -> torch.Tensor:
        return self.sigmas[idx]

    def possibly_quantize_sigma(self, sigma: torch.Tensor) -> torch.Tensor:
        return self.idx_to_sigma(self.sigma_to_idx(sigma))

    def possibly_quantize_c_noise(self, c_noise: torch.Tensor) -> torch.Tensor:
        return self.sigma_to_idx(c_noise) if self.quantize_c_noise else c_noise
