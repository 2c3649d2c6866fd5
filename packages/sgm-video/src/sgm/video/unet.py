"""VideoUNet: the image UNet with temporal layers, the network of SVD, SVD-XT and SV3D (Blattmann et al. 2023,
"Stable Video Diffusion"; Voleti et al. 2024, "SV3D")."""

from collections.abc import Sequence

import torch

from sgm.core.nn.video_resblock import VideoResBlock
from sgm.core.nn.video_transformer import SpatialVideoTransformer
from sgm.video.unet_skeleton import TimeMixingUNet, to_dtype


class VideoUNet(TimeMixingUNet):
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
        super().__init__()
        if context_dim is None:
            raise ValueError("VideoUNet: context_dim is required (the width of the cross-attention context)")
        self.in_channels = in_channels
        self.model_channels = model_channels
        self.out_channels = out_channels
        self.num_res_blocks = num_res_blocks
        self.attention_resolutions = attention_resolutions
        self.dropout = dropout
        self.channel_mult = channel_mult
        self.num_classes = num_classes
        self.use_checkpoint = use_checkpoint
        time_embed_dim = self._build_embeddings(model_channels, num_classes, adm_in_channels)

        def resblock(ch: int, out_ch: int | None, down: bool = False, up: bool = False) -> VideoResBlock:
            return VideoResBlock(
                ch,
                time_embed_dim,
                dropout,
                video_kernel_size=video_kernel_size,
                merge_strategy=merge_strategy,
                merge_factor=merge_factor,
                out_channels=out_ch,
                dims=dims,
                use_checkpoint=use_checkpoint,
                use_scale_shift_norm=use_scale_shift_norm,
                down=down,
                up=up,
            )

        def transformer(ch: int, heads: int, dim_head: int, depth: int) -> SpatialVideoTransformer:
            return SpatialVideoTransformer(
                ch,
                heads,
                dim_head,
                depth=depth,
                context_dim=context_dim,
                time_context_dim=time_context_dim,
                dropout=dropout,
                ff_in=extra_ff_mix_layer,
                use_spatial_context=use_spatial_context,
                merge_strategy=merge_strategy,
                merge_factor=merge_factor,
                checkpoint=use_checkpoint,
                use_linear=use_linear_in_transformer,
                attn_mode=spatial_transformer_attn_type,
                disable_temporal_crossattention=disable_temporal_crossattention,
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
        time_context: torch.Tensor | None = None,
        num_video_frames: int | None = None,
        image_only_indicator: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`x` `[(B T), in_channels, H, W]` (T = `num_video_frames`), `timesteps` `[(B T)]`, `context`
        `[(B T), tokens, context_dim]`, `y` `[(B T), adm_in_channels]`, `image_only_indicator` `[B, T]` (1 marks
        frames to treat as still images); returns `[(B T), out_channels, H, W]` in `x`'s dtype."""
        if num_video_frames is None or x.shape[0] % int(num_video_frames):
            raise ValueError(
                f"VideoUNet: num_video_frames must divide the batch of {x.shape[0]} frames, got {num_video_frames}"
            )
        emb = self._embedding(x, timesteps, y)
        return self._run_levels(
            x,
            emb,
            context=to_dtype(context, emb.dtype),
            time_context=to_dtype(time_context, emb.dtype),
            num_video_frames=int(num_video_frames),
            image_only_indicator=image_only_indicator,
        )
