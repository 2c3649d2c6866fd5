"""SpatialUNetModelWithTime: the SV4D / SV4D 2.0 network (Xie et al. 2024, "SV4D"; Yao et al. 2025,
"SV4D 2.0"): VideoUNet's layout over frame x view grids, with post-hoc camera and motion attention blocks."""

from collections.abc import Sequence

import torch
import torch.nn as nn

from sgm.core.nn.unet import to_dtype
from sgm.video.sv4d_blocks import PostHocResBlockWithTime, PostHocSpatialTransformerWithTimeMixingAndMotion
from sgm.video.unet import VideoUNet


class SpatialUNetModelWithTime(VideoUNet):
    """UNet over `[(B T V), C, H, W]` (T frames x V views per sample) with PostHocResBlockWithTime residual
    blocks and PostHocSpatialTransformerWithTimeMixingAndMotion transformers.

    Parameters are the reference's. The released models use use_spatial_transformer, use_motion_attention,
    use_temporal_resblock and time_mix_legacy=False; the reference's other branches (plain attention blocks,
    time mixing without motion attention, legacy blending) do not run at its HEAD and are rejected here.
    time_block_merge_strategy / time_block_merge_factor: AlphaBlender of the temporal blocks.
    motion_block_merge_factor: initial alpha of the motion blender (with separate_motion_merge_factor).
    time_kernel_size: kernel of the temporal convs. motion_context_dim: latent channels of `cond_view`.
    use_camera_emb, use_3d_attention: see PostHocSpatialTransformerWithTimeMixingAndMotion.
    replicate_time_mix_bug: selected a blender variant the reference disabled; accepted, no effect.
    view_context_dim, legacy, num_heads_upsample, use_new_attention_order: accepted, no effect (as there).
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
        use_new_attention_order: bool = False,
        use_spatial_transformer: bool = False,
        transformer_depth: int | Sequence[int] = 1,
        transformer_depth_middle: int | None = None,
        context_dim: int | None = None,
        time_downup: bool = False,
        time_context_dim: int | None = None,
        view_context_dim: int | None = None,
        motion_context_dim: int | None = None,
        extra_ff_mix_layer: bool = False,
        use_spatial_context: bool = False,
        time_block_merge_strategy: str = "fixed",
        time_block_merge_factor: float = 0.5,
        view_block_merge_factor: float = 0.5,
        motion_block_merge_factor: float = 0.5,
        spatial_transformer_attn_type: str = "softmax",
        time_kernel_size: int | Sequence[int] = 3,
        use_linear_in_transformer: bool = False,
        legacy: bool = True,
        adm_in_channels: int | None = None,
        use_temporal_resblock: bool = True,
        disable_temporal_crossattention: bool = False,
        time_mix_legacy: bool = True,
        max_ddpm_temb_period: int = 10000,
        replicate_time_mix_bug: bool = False,
        use_motion_attention: bool = False,
        use_camera_emb: bool = False,
        use_3d_attention: bool = False,
        separate_motion_merge_factor: bool = False,
    ):
        unsupported = {
            "use_spatial_transformer": not use_spatial_transformer,
            "use_motion_attention": not use_motion_attention,
            "use_temporal_resblock": not use_temporal_resblock,
        }
        missing = [name for name, off in unsupported.items() if off]
        if missing:
            raise ValueError(
                f"SpatialUNetModelWithTime: set {', '.join(f'{n}: True' for n in missing)}; the reference's other "
                "branches do not run and no released model uses them"
            )
        if context_dim is None:
            raise ValueError("SpatialUNetModelWithTime: context_dim is required with use_spatial_transformer")
        if use_camera_emb and adm_in_channels != 4 * model_channels:
            raise ValueError(
                "SpatialUNetModelWithTime: use_camera_emb embeds the network's timestep embedding, so "
                f"adm_in_channels must be 4 * model_channels = {4 * model_channels}, got {adm_in_channels}"
            )
        self.use_temporal_resblocks = use_temporal_resblock
        # Read by the block hooks while UNetModel.__init__ builds the layout.
        self.motion_context_dim = motion_context_dim
        self.motion_block_merge_factor = motion_block_merge_factor
        self.use_camera_emb = use_camera_emb
        self.use_3d_attention = use_3d_attention
        self.separate_motion_merge_factor = separate_motion_merge_factor
        self.adm_in_channels = adm_in_channels
        self.time_mix_legacy = time_mix_legacy
        self.replicate_time_mix_bug = replicate_time_mix_bug
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
            time_downup=time_downup,
            time_context_dim=time_context_dim,
            extra_ff_mix_layer=extra_ff_mix_layer,
            use_spatial_context=use_spatial_context,
            merge_strategy=time_block_merge_strategy,
            merge_factor=time_block_merge_factor,
            spatial_transformer_attn_type=spatial_transformer_attn_type,
            video_kernel_size=time_kernel_size,
            use_linear_in_transformer=use_linear_in_transformer,
            adm_in_channels=adm_in_channels,
            disable_temporal_crossattention=disable_temporal_crossattention,
            max_ddpm_temb_period=max_ddpm_temb_period,
        )

    def _make_resblock(self, channels: int, out_channels: int, *, down: bool = False, up: bool = False) -> nn.Module:
        return PostHocResBlockWithTime(
            channels,
            self.time_embed_dim,
            self.dropout,
            time_kernel_size=self.video_kernel_size,
            merge_strategy=self.merge_strategy,
            merge_factor=self.merge_factor,
            out_channels=out_channels,
            dims=self.dims,
            use_checkpoint=self.use_checkpoint,
            use_scale_shift_norm=self.use_scale_shift_norm,
            down=down,
            up=up,
            time_mix_legacy=self.time_mix_legacy,
            replicate_bug=self.replicate_time_mix_bug,
        )

    def _make_transformer(
        self, channels: int, heads: int, head_dim: int, depth: int, disable_self_attn: bool
    ) -> nn.Module:
        return PostHocSpatialTransformerWithTimeMixingAndMotion(
            channels,
            heads,
            head_dim,
            depth=depth,
            context_dim=self.context_dim,
            time_context_dim=self.time_context_dim,
            motion_context_dim=self.motion_context_dim,
            dropout=self.dropout,
            ff_in=self.extra_ff_mix_layer,
            use_spatial_context=self.use_spatial_context,
            use_camera_emb=self.use_camera_emb,
            use_3d_attention=self.use_3d_attention,
            separate_motion_merge_factor=self.separate_motion_merge_factor,
            adm_in_channels=self.adm_in_channels,
            merge_strategy=self.merge_strategy,
            merge_factor=self.merge_factor,
            merge_factor_motion=self.motion_block_merge_factor,
            checkpoint=self.use_checkpoint,
            use_linear=self.use_linear_in_transformer,
            attn_mode=self.spatial_transformer_attn_type,
            disable_self_attn=disable_self_attn,
            disable_temporal_crossattention=self.disable_temporal_crossattention,
            time_mix_legacy=self.time_mix_legacy,
            max_time_embed_period=self.max_ddpm_temb_period,
        )

    def forward(
        self,
        x: torch.Tensor,
        timesteps: torch.Tensor,
        context: torch.Tensor | None = None,
        y: torch.Tensor | None = None,
        cam: torch.Tensor | None = None,
        time_context: torch.Tensor | None = None,
        num_video_frames: int | None = None,
        image_only_indicator: torch.Tensor | None = None,
        cond_view: torch.Tensor | None = None,
        cond_motion: torch.Tensor | None = None,
        time_step: int | None = None,
    ) -> torch.Tensor:
        """`x` `[(B T V), in_channels, H, W]` with `num_video_frames` = T x V; `context` `[B, T, context_dim]`;
        `y` `[(B T V), adm_in_channels]` (the camera vector); `cond_view` `[(B V), motion_context_dim, h, w]`.
        The camera embedding is computed from the timestep-plus-label embedding, as the reference's blocks
        receive it, so `cam`, like `cond_motion` and `time_step`, is accepted and not read."""
        frames = self._video_frames(x, num_video_frames)
        emb = self._embedding(x, timesteps, y)
        return self._run_levels(
            x,
            emb,
            context=to_dtype(context, emb.dtype),
            time_context=to_dtype(time_context, emb.dtype),
            num_video_frames=frames,
            image_only_indicator=image_only_indicator,
            cond_view=to_dtype(cond_view, emb.dtype),
        )
