"""GroupNorm and LayerNorm modules with `torch.nn` parameters (so checkpoint keys match) computed by `sgm.kernels`.

The kernels compute statistics in at least fp32 (fp64 stays fp64) and return the input's dtype.
"""

import torch
import torch.nn as nn

from sgm.kernels import group_norm, layer_norm


class GroupNorm32(nn.GroupNorm):
    """GroupNorm (Wu & He 2018) in at least fp32, optionally followed by a fused SiLU (`activation="silu"`)."""

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        activation: str | None = None,
    ):
        super().__init__(num_groups, num_channels, eps=eps, affine=affine)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps, self.activation)


class LayerNorm32(nn.LayerNorm):
    """LayerNorm (Ba et al. 2016) over the last dimension, in at least fp32."""

    def __init__(self, dim: int, eps: float = 1e-5, elementwise_affine: bool = True):
        super().__init__(dim, eps=eps, elementwise_affine=elementwise_affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return layer_norm(x, self.weight, self.bias, self.eps)


def normalization(channels: int, activation: str | None = None) -> GroupNorm32:
    """The UNet's norm: 32 groups, eps 1e-5."""
    return GroupNorm32(32, channels, activation=activation)
