"""ResBlock with a temporal residual stack over frames (Blattmann et al. 2023, "Stable Video Diffusion")."""

from collections.abc import Sequence

import torch

from sgm.core.nn.alpha_blender import AlphaBlender
from sgm.core.nn.resblock import ResBlock


class VideoResBlock(ResBlock):
    """A spatial ResBlock over `[(B T), C, H, W]`, then a 3-D ResBlock over `[B, C, T, H, W]` (`time_stack`,
    kernel `video_kernel_size`), blended by `time_mixer` (AlphaBlender with `merge_strategy`, `merge_factor`)."""

    sequential_inputs = ("emb", "num_video_frames", "image_only_indicator")

    def __init__(
        self,
        channels: int,
        emb_channels: int,
        dropout: float,
        video_kernel_size: int | Sequence[int] = 3,
        merge_strategy: str = "fixed",
        merge_factor: float = 0.5,
        out_channels: int | None = None,
        use_conv: bool = False,
        use_scale_shift_norm: bool = False,
        dims: int = 2,
        use_checkpoint: bool = False,
        up: bool = False,
        down: bool = False,
    ):
        super().__init__(
            channels,
            emb_channels,
            dropout,
            out_channels=out_channels,
            use_conv=use_conv,
            use_scale_shift_norm=use_scale_shift_norm,
            dims=dims,
            use_checkpoint=use_checkpoint,
            up=up,
            down=down,
        )
        out = out_channels or channels
        self.time_stack = ResBlock(
            out,
            emb_channels,
            dropout=dropout,
            dims=3,
            out_channels=out,
            use_scale_shift_norm=False,
            use_conv=False,
            kernel_size=video_kernel_size,
            use_checkpoint=use_checkpoint,
            exchange_temb_dims=True,
        )
        self.time_mixer = AlphaBlender(
            alpha=merge_factor, merge_strategy=merge_strategy, rearrange_pattern="b t -> b 1 t 1 1"
        )

    def forward(
        self,
        x: torch.Tensor,
        emb: torch.Tensor,
        num_video_frames: int,
        image_only_indicator: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`x` `[(B T), C, H, W]`, `emb` `[(B T), emb_channels]`; returns `[(B T), out_channels, H', W']`."""
        x = super().forward(x, emb)
        frames = num_video_frames
        x_spatial = x.unflatten(0, (-1, frames)).transpose(1, 2)  # [B, C, T, H, W]
        x_temporal = self.time_stack(x_spatial, emb.unflatten(0, (-1, frames)))
        x = self.time_mixer(x_spatial=x_spatial, x_temporal=x_temporal, image_only_indicator=image_only_indicator)
        return x.transpose(1, 2).flatten(0, 1)
