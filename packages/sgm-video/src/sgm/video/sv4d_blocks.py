"""The post-hoc time-mixing blocks of the SV4D networks (Xie et al. 2024, "SV4D"; Yao et al. 2025, "SV4D 2.0"):
each output frame is one (frame, view) pair, and temporal layers mix over views (camera attention) and over
frames (motion attention) after the spatial layers."""

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from sgm.core.nn.alpha_blender import AlphaBlender
from sgm.core.nn.timestep import timestep_embedding
from sgm.core.nn.transformer import SpatialTransformer
from sgm.core.nn.video_resblock import VideoResBlock
from sgm.core.nn.video_transformer import VideoTransformerBlock

LEGACY_UNSUPPORTED = (
    "time_mix_legacy=True (the pre-release blending, unused by every released SV4D model) is not supported; "
    "set time_mix_legacy: False"
)


class PostHocResBlockWithTime(VideoResBlock):
    """VideoResBlock whose temporal stack is named `time_mix_blocks` and whose blend ignores image-only flags
    (every frame gets the learned alpha), as SV4D's training did."""

    def __init__(
        self,
        channels: int,
        emb_channels: int,
        dropout: float,
        time_kernel_size: int | Sequence[int] = 3,
        merge_strategy: str = "fixed",
        merge_factor: float = 0.5,
        apply_sigmoid_to_merge: bool = True,
        out_channels: int | None = None,
        use_conv: bool = False,
        use_scale_shift_norm: bool = False,
        dims: int = 2,
        use_checkpoint: bool = False,
        up: bool = False,
        down: bool = False,
        time_mix_legacy: bool = True,
        replicate_bug: bool = False,
    ):
        if time_mix_legacy:
            raise ValueError(LEGACY_UNSUPPORTED)
        super().__init__(
            channels,
            emb_channels,
            dropout,
            video_kernel_size=time_kernel_size,
            merge_strategy=merge_strategy,
            merge_factor=merge_factor,
            out_channels=out_channels,
            use_conv=use_conv,
            use_scale_shift_norm=use_scale_shift_norm,
            dims=dims,
            use_checkpoint=use_checkpoint,
            up=up,
            down=down,
        )
        # The checkpoints name the temporal stack `time_mix_blocks`; VideoResBlock's forward reaches it as
        # `time_stack` through the property below. (`replicate_bug` selected a blender the reference disabled.)
        self.time_mix_blocks = self._modules.pop("time_stack")

    @property
    def time_stack(self) -> nn.Module:
        return self.time_mix_blocks

    def forward(
        self,
        x: torch.Tensor,
        emb: torch.Tensor,
        num_video_frames: int,
        image_only_indicator: torch.Tensor | None = None,
    ) -> torch.Tensor:
        videos = x.shape[0] // num_video_frames
        no_images = x.new_zeros(videos, num_video_frames)
        return super().forward(x, emb, num_video_frames, no_images)


class PostHocSpatialTransformerWithTimeMixingAndMotion(SpatialTransformer):
    """SpatialTransformer over `[(B T V), C, H, W]` where each block is followed by camera attention over the
    V views (`time_mix_blocks`, with a view embedding) and motion attention over the T frames (`motion_blocks`,
    with a frame embedding, cross-attending to the reference views' latents `cond_view`).

    use_camera_emb: the view embedding comes from the camera vector instead of the view index; the reference
        network feeds its own timestep-plus-label embedding here (the label vector carries the camera angles),
        so `adm_in_channels` is that embedding's width.
    use_3d_attention: camera attention groups tokens per (view, pixel) row, as SV4D 2.0 was trained.
    separate_motion_merge_factor: motion attention has its own AlphaBlender (`time_mixer_motion`).
    motion_context_dim: channels of `cond_view` (latent channels).
    """

    sequential_inputs = ("context", "emb", "time_context", "num_video_frames", "image_only_indicator", "cond_view")

    def __init__(
        self,
        in_channels: int,
        n_heads: int,
        d_head: int,
        depth: int = 1,
        dropout: float = 0.0,
        use_linear: bool = False,
        context_dim: int | None = None,
        use_spatial_context: bool = False,
        use_camera_emb: bool = False,
        use_3d_attention: bool = False,
        separate_motion_merge_factor: bool = False,
        adm_in_channels: int | None = None,
        timesteps: int | None = None,
        merge_strategy: str = "fixed",
        merge_factor: float = 0.5,
        merge_factor_motion: float = 0.5,
        apply_sigmoid_to_merge: bool = True,
        time_context_dim: int | None = None,
        motion_context_dim: int | None = None,
        ff_in: bool = False,
        checkpoint: bool = False,
        time_depth: int = 1,
        attn_mode: str = "softmax",
        disable_self_attn: bool = False,
        disable_temporal_crossattention: bool = False,
        time_mix_legacy: bool = True,
        max_time_embed_period: int = 10000,
    ):
        if time_mix_legacy:
            raise ValueError(LEGACY_UNSUPPORTED)
        if use_camera_emb and adm_in_channels is None:
            raise ValueError("use_camera_emb needs adm_in_channels (the width of the camera embedding input)")
        super().__init__(
            in_channels,
            n_heads,
            d_head,
            depth=depth,
            dropout=dropout,
            attn_type=attn_mode,
            use_checkpoint=checkpoint,
            context_dim=context_dim,
            use_linear=use_linear,
            disable_self_attn=disable_self_attn,
        )
        self.time_depth = time_depth
        self.depth = depth
        self.max_time_embed_period = max_time_embed_period
        self.use_camera_emb = use_camera_emb
        self.motion_context_dim = motion_context_dim
        self.use_3d_attention = use_3d_attention
        self.separate_motion_merge_factor = separate_motion_merge_factor
        self.use_spatial_context = use_spatial_context
        inner_dim = n_heads * d_head
        if use_spatial_context:
            time_context_dim = context_dim

        def mixing_blocks(block_context_dim: int | None) -> nn.ModuleList:
            return nn.ModuleList(
                VideoTransformerBlock(
                    inner_dim,
                    n_heads,
                    d_head,
                    dropout=dropout,
                    context_dim=block_context_dim,
                    timesteps=timesteps,
                    checkpoint=checkpoint,
                    ff_in=ff_in,
                    inner_dim=inner_dim,
                    attn_mode=attn_mode,
                    disable_self_attn=disable_self_attn,
                    disable_temporal_crossattention=disable_temporal_crossattention,
                )
                for _ in range(depth)
            )

        self.time_mix_blocks = mixing_blocks(time_context_dim)  # camera (view) attention
        self.motion_blocks = mixing_blocks(motion_context_dim)  # motion (frame) attention
        hidden = in_channels * 4
        view_embed_in = adm_in_channels if use_camera_emb else in_channels
        self.time_mix_time_embed = nn.Sequential(
            nn.Linear(view_embed_in, hidden), nn.SiLU(), nn.Linear(hidden, in_channels)
        )
        self.time_mix_motion_embed = nn.Sequential(
            nn.Linear(in_channels, hidden), nn.SiLU(), nn.Linear(hidden, in_channels)
        )
        self.time_mixer = AlphaBlender(alpha=merge_factor, merge_strategy=merge_strategy)
        if separate_motion_merge_factor:
            self.time_mixer_motion = AlphaBlender(alpha=merge_factor_motion, merge_strategy=merge_strategy)

    def _index_embedding(self, count: int, repeats: int, mlp: nn.Sequential, device: torch.device) -> torch.Tensor:
        """`mlp(sinusoid(i))` for `i = 0..count-1`, tiled `repeats` times: `[(repeats count), 1, C]`."""
        index = torch.arange(count, device=device).repeat(repeats)
        emb = timestep_embedding(index, self.in_channels, max_period=self.max_time_embed_period)
        return mlp(emb.to(mlp[0].weight.dtype))[:, None, :]

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        cam: torch.Tensor | None = None,
        time_context: torch.Tensor | None = None,
        timesteps: int | None = None,
        image_only_indicator: torch.Tensor | None = None,
        cond_view: torch.Tensor | None = None,
        cond_motion: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`x` `[(B T V), C, H, W]`; `context` `[B, T, context_dim]` (one image embedding per frame); `cam`
        `[(B T V), adm_in_channels]`; `cond_view` `[(B V), motion_context_dim, h, w]` latents of the reference
        views. `time_context`, `timesteps` and `cond_motion` are accepted for the reference's call signature."""
        if context is None or context.ndim != 3 or cond_view is None:
            raise ValueError("SV4D transformer: needs context [B, T, C] and cond_view [(B V), C, h, w]")
        b, t, d_context = context.shape
        v = cond_view.shape[0] // b
        _, c, h, w = x.shape
        pixels = h * w
        x_in = x

        cond_view = F.interpolate(cond_view.to(x.dtype), size=(h, w), mode="bilinear")
        spatial_context = context[:, :, None].expand(b, t, v, d_context).reshape(-1, 1, d_context)
        camera_context = context[:, :, None].expand(b, t, pixels, d_context).reshape(-1, 1, d_context)
        motion_context = cond_view.permute(0, 2, 3, 1).reshape(-1, 1, cond_view.shape[1])

        x = self.project_in(x)  # [(b t v), pixels, c]
        frame_emb = self._index_embedding(t, b, self.time_mix_motion_embed, x.device)  # [(b t), 1, c]
        if self.use_camera_emb:
            view_emb = self.time_mix_time_embed(cam.view(b, t, v, -1)[:, 0].reshape(b * v, -1).to(x.dtype))[:, None]
        else:
            view_emb = self._index_embedding(v, b, self.time_mix_time_embed, x.device)  # [(b v), 1, c]
        if self.use_3d_attention:
            view_emb = view_emb.repeat(1, pixels, 1).view(-1, 1, c)
        motion_mixer = self.time_mixer_motion if self.separate_motion_merge_factor else self.time_mixer

        for block, camera_block, motion_block in zip(self.transformer_blocks, self.time_mix_blocks, self.motion_blocks):
            x = block(x, context=spatial_context)

            x = x.view(b, t, v, pixels, c)
            if self.use_3d_attention:
                x = x.permute(0, 2, 3, 1, 4).reshape(-1, t, c)  # [(b v pixels), t, c]
            else:
                x = x.permute(0, 2, 1, 3, 4).reshape(b * v, -1, c)  # [(b v), (t pixels), c]
            mixed = camera_block(x + view_emb, context=camera_context, timesteps=v)
            x = self.time_mixer(x, mixed, image_only_indicator=x.new_zeros(b, x.shape[0] // b))

            if self.use_3d_attention:
                x = x.view(b, v, pixels, t, c).permute(0, 3, 1, 2, 4).reshape(b * t, -1, c)
            else:
                x = x.view(b, v, t, pixels, c).permute(0, 2, 1, 3, 4).reshape(b * t, -1, c)
            mixed = motion_block(x + frame_emb, context=motion_context, timesteps=t)  # x: [(b t), (v pixels), c]
            x = motion_mixer(x, mixed, image_only_indicator=x.new_zeros(b, x.shape[0] // b))

            x = x.reshape(-1, pixels, c)  # back to [(b t v), pixels, c]

        return self.project_out(x, h, w) + x_in
