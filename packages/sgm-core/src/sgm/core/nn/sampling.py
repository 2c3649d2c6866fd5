"""Factor-2 up- and downsampling over the spatial axes (and optionally time, for 3-D video tensors)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from sgm.core.nn.layers import avg_pool_nd, conv_nd


class Upsample(nn.Module):
    """Nearest-neighbour upsampling, then an optional convolution.

    For `dims=3` (`[B, C, T, H, W]`) only H and W are scaled unless `third_up` also scales T.
    """

    def __init__(
        self,
        channels: int,
        use_conv: bool,
        dims: int = 2,
        out_channels: int | None = None,
        padding: int = 1,
        third_up: bool = False,
        kernel_size: int = 3,
        scale_factor: int = 2,
    ):
        super().__init__()
        self.channels = channels
        self.out_channels = out_channels or channels
        self.use_conv = use_conv
        self.dims = dims
        self.third_up = third_up
        self.scale_factor = scale_factor
        if use_conv:
            self.conv = conv_nd(dims, channels, self.out_channels, kernel_size, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dims == 3:
            time_factor = self.scale_factor if self.third_up else 1
            size = (x.shape[2] * time_factor, x.shape[3] * self.scale_factor, x.shape[4] * self.scale_factor)
            x = F.interpolate(x, size, mode="nearest")
        else:
            x = F.interpolate(x, scale_factor=self.scale_factor, mode="nearest")
        return self.conv(x) if self.use_conv else x


class Downsample(nn.Module):
    """Stride-2 convolution (`use_conv`) or average pooling.

    For `dims=3` only H and W are halved unless `third_down` also halves T.
    """

    def __init__(
        self,
        channels: int,
        use_conv: bool,
        dims: int = 2,
        out_channels: int | None = None,
        padding: int = 1,
        third_down: bool = False,
    ):
        super().__init__()
        self.channels = channels
        self.out_channels = out_channels or channels
        self.use_conv = use_conv
        self.dims = dims
        stride = 2 if dims != 3 else ((2, 2, 2) if third_down else (1, 2, 2))
        if use_conv:
            self.op = conv_nd(dims, channels, self.out_channels, 3, stride=stride, padding=padding)
        else:
            if self.out_channels != channels:
                raise ValueError(
                    f"Downsample without a convolution keeps the channels: out_channels {self.out_channels} "
                    f"must equal channels {channels} (or set use_conv=True)"
                )
            self.op = avg_pool_nd(dims, kernel_size=stride, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)
