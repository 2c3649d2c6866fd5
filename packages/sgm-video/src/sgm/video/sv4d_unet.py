"""SpatialUNetModelWithTime: the SV4D / SV4D 2.0 network (Xie et al. 2024, "SV4D"; Yao et al. 2025,
"SV4D 2.0"), a VideoUNet-shaped network over frame x view grids with post-hoc camera and motion attention."""

from collections.abc import Sequence

import torch

from sgm.video.sv4d_blocks import PostHocResBlockWithTime, PostHocSpatialTransformerWithTimeMixingAndMotion
from sgm.video.unet_skeleton import TimeMixingUNet, to_dtype


class SpatialUNetModelWithTime(TimeMixingUNet):
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
        super().__init__()
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
        self.in_channels = in_channels
        self.model_channels = model_channels
        self.out_channels = out_channels
        self.num_res_blocks = num_res_blocks
        self.attention_resolutions = attention_resolutions
        self.dropout = dropout
        self.channel_mult = channel_mult
        self.num_classes = num_classes
        self.use_checkpoint = use_checkpoint
        self.use_temporal_resblocks = use_temporal_resblock
        time_embed_dim = self._build_embeddings(model_channels, num_classes, adm_in_channels)

        def resblock(ch: int, out_ch: int | None, down: bool = False, up: bool = False) -> PostHocResBlockWithTime:
            return PostHocResBlockWithTime(
                ch,
                time_embed_dim,
                dropout,
                time_kernel_size=time_kernel_size,
                merge_strategy=time_block_merge_strategy,
                merge_factor=time_block_merge_factor,
                out_channels=out_ch,
                dims=dims,
                use_checkpoint=use_checkpoint,
                use_scale_shift_norm=use_scale_shift_norm,
                down=down,
                up=up,
                time_mix_legacy=time_mix_legacy,
                replicate_bug=replicate_time_mix_bug,
            )

        def transformer(
            ch: int, heads: int, dim_head: int, depth: int
        ) -> PostHocSpatialTransformerWithTimeMixingAndMotion:
            return PostHocSpatialTransformerWithTimeMixingAndMotion(
                ch,
                heads,
                dim_head,
                depth=depth,
                context_dim=context_dim,
                time_context_dim=time_context_dim,
                motion_context_dim=motion_context_dim,
                dropout=dropout,
                ff_in=extra_ff_mix_layer,
                use_spatial_context=use_spatial_context,
                use_camera_emb=use_camera_emb,
                use_3d_attention=use_3d_attention,
                separate_motion_merge_factor=separate_motion_merge_factor,
                adm_in_channels=adm_in_channels,
                merge_strategy=time_block_merge_strategy,
                merge_factor=time_block_merge_factor,
                merge_factor_motion=motion_block_merge_factor,
                checkpoint=use_checkpoint,
                use_linear=use_linear_in_transformer,
                attn_mode=spatial_transformer_attn_type,
                disable_temporal_crossattention=disable_temporal_crossattention,
                time_mix_legacy=time_mix_legacy,
                max_time_embed_period=max_ddpm_temb_period,
            )

        self._build_levels(
            in_channels=in_channels,
            model_channels=model_channels,
            out_channels=out_channels,
            num_res_blocks=num_res_blocks,
            attention_resolutions=attention_resolutions,
            channel_mult=channel_mult,
            conv_resample=conv_resample,
            dims=dims,
            resblock_updown=resblock_updown,
            time_downup=time_downup,
            num_heads=num_heads,
            num_head_channels=num_head_channels,
            transformer_depth=transformer_depth,
            transformer_depth_middle=transformer_depth_middle,
            resblock=resblock,
            transformer=transformer,
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
        if num_video_frames is None or x.shape[0] % int(num_video_frames):
            raise ValueError(
                f"SpatialUNetModelWithTime: num_video_frames (T x V) must divide the batch of {x.shape[0]}, "
                f"got {num_video_frames}"
            )
        emb = self._embedding(x, timesteps, y)
        return self._run_levels(
            x,
            emb,
            context=to_dtype(context, emb.dtype),
            time_context=to_dtype(time_context, emb.dtype),
            num_video_frames=int(num_video_frames),
            image_only_indicator=image_only_indicator,
            cond_view=to_dtype(cond_view, emb.dtype),
        )
