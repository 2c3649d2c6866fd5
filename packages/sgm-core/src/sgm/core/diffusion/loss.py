"""The denoising score-matching loss: E_sigma E_n [ lambda(sigma) |D(x + sigma n, sigma) - x|^2 ] (Karras et al.
2022, eq. 2 and 8), per sample."""

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from sgm.core.config import instantiate
from sgm.core.diffusion.tensor_shapes import append_dims

LOSS_TYPES = ("l2", "l1", "lpips")
# LPIPS lives in sgm-autoencoders; it meets this loss through config instantiation, not an import.
LPIPS_TARGET = "sgm.modules.autoencoding.lpips.loss.lpips.LPIPS"


class StandardDiffusionLoss(nn.Module):
    """sigma_sampler_config: training noise levels; loss_weighting_config: lambda(sigma); loss_type: "l2", "l1" or
    "lpips"; offset_noise_level: std of a per-sample, per-channel constant added to the noise (offset noise, which
    lets the model change mean brightness); batch2model_keys: batch entries passed to the network as keywords."""

    def __init__(
        self,
        sigma_sampler_config: Mapping,
        loss_weighting_config: Mapping,
        loss_type: str = "l2",
        offset_noise_level: float = 0.0,
        batch2model_keys: str | Iterable[str] | None = None,
    ):
        super().__init__()
        if loss_type not in LOSS_TYPES:
            raise ValueError(f"loss_type must be one of {', '.join(LOSS_TYPES)}, got {loss_type!r}")
        self.sigma_sampler = instantiate(sigma_sampler_config)
        self.loss_weighting = instantiate(loss_weighting_config)
        self.loss_type = loss_type
        self.offset_noise_level = offset_noise_level
        if loss_type == "lpips":
            self.lpips = instantiate({"target": LPIPS_TARGET}).eval()
        if isinstance(batch2model_keys, str):
            batch2model_keys = [batch2model_keys]
        self.batch2model_keys = set(batch2model_keys or [])

    def get_noised_input(self, sigmas_bc: torch.Tensor, noise: torch.Tensor, input: torch.Tensor) -> torch.Tensor:
        return input + noise * sigmas_bc

    def forward(
        self, network: nn.Module, denoiser: nn.Module, conditioner: nn.Module, input: torch.Tensor, batch: Mapping
    ) -> torch.Tensor:
        return self._forward(network, denoiser, conditioner(batch), input, batch)

    def _forward(
        self, network: nn.Module, denoiser: nn.Module, cond: Mapping, input: torch.Tensor, batch: Mapping
    ) -> torch.Tensor:
        """The per-sample loss of clean `input` under conditioning `cond`."""
        additional_model_inputs: dict[str, Any] = {key: batch[key] for key in self.batch2model_keys.intersection(batch)}
        sigmas = self.sigma_sampler(input.shape[0]).to(input)
        noise = torch.randn_like(input)
        if self.offset_noise_level > 0.0:
            offset = torch.randn((input.shape[0], input.shape[1]), device=input.device).to(input.dtype)
            noise = noise + self.offset_noise_level * append_dims(offset, input.ndim)
        sigmas_bc = append_dims(sigmas, input.ndim)
        noised_input = self.get_noised_input(sigmas_bc, noise, input)
        model_output = denoiser(network, noised_input, sigmas, cond, **additional_model_inputs)
        w = append_dims(self.loss_weighting(sigmas), input.ndim)
        return self.get_loss(model_output, input, w)

    def get_loss(self, model_output: torch.Tensor, target: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.loss_type == "l2":
            return torch.mean((w * (model_output - target) ** 2).reshape(target.shape[0], -1), 1)
        if self.loss_type == "l1":
            return torch.mean((w * (model_output - target).abs()).reshape(target.shape[0], -1), 1)
        return self.lpips(model_output, target).reshape(-1)
