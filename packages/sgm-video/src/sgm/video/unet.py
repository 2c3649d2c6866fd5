"""VideoUNet: the image UNet with temporal layers, the network of SVD, SVD-XT and SV3D (Blattmann et al. 2023,
"Stable Video Diffusion"; Voleti et al. 2024, "SV3D")."""

from collections.abc import Sequence

import torch
import torch.nn as nn

from sgm.core.nn.sampling import Downsample, Upsample
from sgm.core.nn.unet import UNetModel, to_dtype
from sgm.core.nn.video_resblock import VideoResBlock
from sgm.core.nn.video_transformer import SpatialVideoTransformer


class VideoUNet(UNetModel):
    """UNet over `[(B T), C, H, W]` frames whose ResBlocks add a temporal 3-D conv stack (VideoResBlock) and
    whose transformers add attention over frames (SpatialVideoTransformer), each blended with the spatial path
    by an AlphaBlender (`merge_strategy`, `merge_factor`).

    Parameters are the reference's; those shared with UNetModel mean the same. Video-specific:
    video_kernel_size: kernel of the temporal convs (e.g. [3, 1, 1]).
    merge_strategy / merge_factor: AlphaBlender "fixed", "learned" or "learned_with_images", and its initial alpha.
    extra_ff_mix_layer: a feed-forward before the temporal attention (`ff_in`).
    use_spatial_context: the temporal attention attends to the first frame's context.
    time_context_dim: width of `time_context` (without use_spatial_context).
    time_downup: also halve / double the frame axis when down- / upsampling.
    disable_temporal_crossattention: no cross-attention in the temporal blocks.
    max_ddpm_temb_period: max period of the frame-index embedding.
    """

    def __init__(
        self,
        in_channels: int,
        model_channels: int,
        out_channels: int,
        num_res_blocks: int,
        attention_resolutions: Sequence[int],
        dropout: float = 0.0,
        channel_mult: Sequence[int] = (1, 2, 4, 8),
        conv_resample: bool = True,
        dims: int = 2,
        num_classes: int | str | None = None,
        use_checkpoint: bool = False,
        num_heads: int = -1,
        num_head_channels: int = -1,
        num_heads_upsample: int = -1,
        use_scale_shift_norm: bool = False,
        resblock_updown: bool = False,
        transformer_depth: int | Sequence[int] = 1,
        transformer_depth_middle: int | None = None,
        context_dim: int | None = None,
        time_downup: bool = False,
        time_context_dim: int | None = None,
        extra_ff_mix_layer: bool = False,
        use_spatial_context: bool = False,
        merge_strategy: str = "fixed",
        merge_factor: float = 0.5,
        spatial_transformer_attn_type: str = "softmax",
        video_kernel_size: int | Sequence[int] = 3,
        use_linear_in_transformer: bool = False,
        adm_in_channels: int | None = None,
        disable_temporal_crossattention: bool = False,
        max_ddpm_temb_period: int = 10000,
    ):
        if context_dim is None:
            raise ValueError(f"{type(self).__name__}: context_dim is required (the cross-attention context's width)")
        # Read by the block hooks while UNetModel.__init__ builds the layout.
        self.video_kernel_size = video_kernel_size
        self.merge_strategy = merge_strategy
        self.merge_factor = merge_factor
        self.time_context_dim = time_context_dim
        self.extra_ff_mix_layer = extra_ff_mix_layer
        self.use_spatial_context = use_spatial_context
        self.time_downup = time_downup
        self.disable_temporal_crossattention = disable_temporal_crossattention
        self.max_ddpm_temb_period = max_ddpm_temb_period
        super().__init__(
            in_channels,
            model_channels,
            out_channels,
            num_res_blocks,
            attention_resolutions,
            dropout=dropout,
            channel_mult=channel_mult,
            conv_resample=conv_resample,
            dims=dims,
            num_classes=num_classes,
            use_checkpoint=use_checkpoint,
            num_heads=num_heads,
            num_head_channels=num_head_channels,
            num_heads_upsample=num_heads_upsample,
            use_scale_shift_norm=use_scale_shift_norm,
            resblock_updown=resblock_updown,
            transformer_depth=transformer_depth,
            transformer_depth_middle=transformer_depth_middle,
            context_dim=context_dim,
            use_linear_in_transformer=use_linear_in_transformer,
            spatial_transformer_attn_type=spatial_transformer_attn_type,
            adm_in_channels=adm_in_channels,
        )

    def _make_resblock(self, channels: int, out_channels: int, *, down: bool = False, up: bool = False) -> nn.Module:
        return VideoResBlock(
            channels,
            self.time_embed_dim,
            self.dropout,
            video_kernel_size=self.video_kernel_size,
            merge_strategy=self.merge_strategy,
            merge_factor=self.merge_factor,
            out_channels=out_channels,
            dims=self.dims,
            use_checkpoint=self.use_checkpoint,
            use_scale_shift_norm=self.use_scale_shift_norm,
            down=down,
            up=up,
        )

    def _make_transformer(
        self, channels: int, heads: int, head_dim: int, depth: int, disable_self_attn: bool
    ) -> nn.Module:
        return SpatialVideoTransformer(
            channels,
            heads,
            head_dim,
            depth=depth,
            context_dim=self.context_dim,
            time_context_dim=self.time_context_dim,
            dropout=self.dropout,
            ff_in=self.extra_ff_mix_layer,
            use_spatial_context=self.use_spatial_context,
            merge_strategy=self.merge_strategy,
            merge_factor=self.merge_factor,
            checkpoint=self.use_checkpoint,
            use_linear=self.use_linear_in_transformer,
            attn_mode=self.spatial_transformer_attn_type,
            disable_self_attn=disable_self_attn,
            disable_temporal_crossattention=self.disable_temporal_crossattention,
            max_time_embed_period=self.max_ddpm_temb_period,
        )

    def _make_downsample(self, channels: int) -> nn.Module:
        return Downsample(
            channels, self.conv_resample, dims=self.dims, out_channels=channels, third_down=self.time_downup
        )

    def _make_upsample(self, channels: int) -> nn.Module:
        return Upsample(channels, self.conv_resample, dims=self.dims, out_channels=channels, third_up=self.time_downup)

    def forward(
        self,
        x: torch.Tensor,
        timesteps: torch.Tensor,
        context: torch.Tensor | None = None,
        y: torch.Tensor | None = None,
        time_context: torch.Tensor | None = None,
        num_video_frames: int | None = None,
        image_only_indicator: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`x` `[(B T), in_channels, H, W]` (T = `num_video_frames`), `timesteps` `[(B T)]`, `context`
        `[(B T), tokens, context_dim]`, `y` `[(B T), adm_in_channels]`, `image_only_indicator` `[B, T]` (1 marks
        frames to treat as still images); returns `[(B T), out_channels, H, W]` in `x`'s dtype."""
        frames = self._video_frames(x, num_video_frames)
        emb = self._embedding(x, timesteps, y)
        return self._run_levels(
            x,
            emb,
            context=to_dtype(context, emb.dtype),
            time_context=to_dtype(time_context, emb.dtype),
            num_video_frames=frames,
            image_only_indicator=image_only_indicator,
        )

    def _video_frames(self, x: torch.Tensor, num_video_frames: int | None) -> int:
        """`num_video_frames` as an int, checked to divide the batch of frames."""
        if num_video_frames is None or x.shape[0] % int(num_video_frames):
            raise ValueError(
                f"{type(self).__name__}: num_video_frames must divide the batch of {x.shape[0]} frames, "
                f"got {num_video_frames}"
            )
        return int(num_video_frames)
