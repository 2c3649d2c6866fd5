"""Sinusoidal timestep embeddings (Vaswani et al. 2017, section 3.5; Ho et al. 2020, appendix B)."""

import math

import torch
import torch.nn as nn


def timestep_embedding(
    timesteps: torch.Tensor, dim: int, max_period: float = 10000, repeat_only: bool = False
) -> torch.Tensor:
    """`[N] -> [N, dim]`: `[cos(t f_i), sin(t f_i)]` with `f_i = max_period^(-i / (dim // 2))`.

    Computed in at least fp32 (fp64 stays fp64); an odd `dim` gets a zero last column. `repeat_only` returns the
    timesteps repeated `dim` times instead.
    """
    if repeat_only:
        return timesteps[:, None].repeat(1, dim)
    dtype = torch.promote_types(timesteps.dtype, torch.float32)
    half = dim // 2
    exponents = -math.log(max_period) * torch.arange(0, half, dtype=dtype, device=timesteps.device) / half
    args = timesteps[:, None].to(dtype) * torch.exp(exponents)[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    return embedding


class Timestep(nn.Module):
    """`timestep_embedding` as a module (the reference's `num_classes: timestep` label embedding uses it)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return timestep_embedding(t, self.dim)
