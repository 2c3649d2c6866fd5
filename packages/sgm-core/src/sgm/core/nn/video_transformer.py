"""Spatial transformers with temporal mixing for video (Blattmann et al. 2023, "Align your Latents", section 3.1)."""

import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

from sgm.core.nn.alpha_blender import AlphaBlender
from sgm.core.nn.attention import attention_class
from sgm.core.nn.norm import LayerNorm32
from sgm.core.nn.timestep import timestep_embedding
from sgm.core.nn.transformer import FeedForward, SpatialTransformer


class VideoTransformerBlock(nn.Module):
    """A transformer block over the frames of each pixel: tokens `[(B T), S, C]` are regrouped to `[(B S), T, C]`.

    Optional `ff_in` (or a different `inner_dim`) first maps `dim` to `inner_dim`; then self-attention (or
    cross-attention to `context`, `disable_self_attn`), cross-attention to `context` (self-attention with
    `switch_temporal_ca_to_sa`, none with `disable_temporal_crossattention`) and a gated feed-forward back to
    `dim`. `timesteps` is the number of frames, fixed here or given to forward.
    """

    def __init__(
        self,
        dim: int,
        n_heads: int,
        d_head: int,
        dropout: float = 0.0,
        context_dim: int | None = None,
        gated_ff: bool = True,
        checkpoint: bool = True,
        timesteps: int | None = None,
        ff_in: bool = False,
        inner_dim: int | None = None,
        attn_mode: str = "softmax",
        disable_self_attn: bool = False,
        disable_temporal_crossattention: bool = False,
        switch_temporal_ca_to_sa: bool = False,
    ):
        super().__init__()
        attn_cls = attention_class(attn_mode)
        use_ff_in = ff_in or inner_dim is not None
        inner_dim = dim if inner_dim is None else inner_dim
        if n_heads * d_head != inner_dim:
            raise ValueError(f"VideoTransformerBlock: n_heads * d_head ({n_heads} * {d_head}) must equal {inner_dim}")
        if disable_temporal_crossattention and switch_temporal_ca_to_sa:
            raise ValueError("VideoTransformerBlock: switch_temporal_ca_to_sa needs the temporal cross-attention")
        self.is_res = inner_dim == dim
        if use_ff_in:
            self.norm_in = LayerNorm32(dim)
        self.ff_in = FeedForward(dim, dim_out=inner_dim, dropout=dropout, glu=gated_ff) if use_ff_in else None
        self.timesteps = timesteps
        self.disable_self_attn = disable_self_attn
        self.attn1 = attn_cls(
            query_dim=inner_dim,
            heads=n_heads,
            dim_head=d_head,
            context_dim=context_dim if disable_self_attn else None,
            dropout=dropout,
        )
        self.ff = FeedForward(inner_dim, dim_out=dim, dropout=dropout, glu=gated_ff)
        if disable_temporal_crossattention:
            self.attn2 = None
        else:
            self.norm2 = LayerNorm32(inner_dim)
            self.attn2 = attn_cls(
                query_dim=inner_dim,
                context_dim=None if switch_temporal_ca_to_sa else context_dim,
                heads=n_heads,
                dim_head=d_head,
                dropout=dropout,
            )
        self.norm1 = LayerNorm32(inner_dim)
        self.norm3 = LayerNorm32(inner_dim)
        self.switch_temporal_ca_to_sa = switch_temporal_ca_to_sa
        self.checkpoint = checkpoint

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None, timesteps: int | None = None
    ) -> torch.Tensor:
        if self.checkpoint and torch.is_grad_enabled():
            return checkpoint(self._forward, x, context, timesteps, use_reentrant=False)
        return self._forward(x, context, timesteps)

    def _forward(self, x: torch.Tensor, context: torch.Tensor | None = None, timesteps: int | None = None):
        if self.timesteps and timesteps and self.timesteps != timesteps:
            raise ValueError(f"VideoTransformerBlock: built for {self.timesteps} frames, called with {timesteps}")
        frames = self.timesteps or timesteps
        if not frames:
            raise ValueError("VideoTransformerBlock: pass timesteps (the number of frames)")
        batch_frames, tokens, _ = x.shape
        x = x.unflatten(0, (-1, frames)).transpose(1, 2).flatten(0, 1)  # [(B T), S, C] -> [(B S), T, C]

        if self.ff_in is not None:
            h = self.ff_in(self.norm_in(x))
            x = h + x if self.is_res else h
        x = self.attn1(self.norm1(x), context=context if self.disable_self_attn else None) + x
        if self.attn2 is not None:
            x = self.attn2(self.norm2(x), context=None if self.switch_temporal_ca_to_sa else context) + x
        h = self.ff(self.norm3(x))
        x = h + x if self.is_res else h

        return x.unflatten(0, (-1, tokens)).transpose(1, 2).flatten(0, 1)  # back to [(B T), S, C]

    def get_last_layer(self) -> torch.Tensor:
        return self.ff.net[-1].weight


class SpatialVideoTransformer(SpatialTransformer):
    """SpatialTransformer whose every block is followed by a VideoTransformerBlock over frames (`time_stack`),
    with a sinusoidal frame-index embedding (`time_pos_embed`) and an AlphaBlender (`time_mixer`).

    Input `[(B T), C, H, W]` with `timesteps` = T frames. `use_spatial_context` feeds the first frame's `context`
    to the temporal blocks; otherwise `time_context` (if given) is.
    """

    sequential_inputs = ("context", "time_context", "num_video_frames", "image_only_indicator")

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
        timesteps: int | None = None,
        merge_strategy: str = "fixed",
        merge_factor: float = 0.5,
        time_context_dim: int | None = None,
        ff_in: bool = False,
        checkpoint: bool = False,
        time_depth: int = 1,
        attn_mode: str = "softmax",
        disable_self_attn: bool = False,
        disable_temporal_crossattention: bool = False,
        max_time_embed_period: int = 10000,
    ):
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
        inner_dim = n_heads * d_head
        if use_spatial_context:
            time_context_dim = context_dim
        self.time_stack = nn.ModuleList(
            VideoTransformerBlock(
                inner_dim,
                n_heads,
                d_head,
                dropout=dropout,
                context_dim=time_context_dim,
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
        self.use_spatial_context = use_spatial_context
        time_embed_dim = in_channels * 4
        self.time_pos_embed = nn.Sequential(
            nn.Linear(in_channels, time_embed_dim), nn.SiLU(), nn.Linear(time_embed_dim, in_channels)
        )
        self.time_mixer = AlphaBlender(alpha=merge_factor, merge_strategy=merge_strategy)

    def _temporal_context(
        self, context: torch.Tensor | None, time_context: torch.Tensor | None, frames: int, pixels: int
    ) -> torch.Tensor | None:
        """The context of the temporal blocks, one row per (video, pixel) as they group tokens."""
        if self.use_spatial_context:
            if context is None or context.ndim != 3:
                raise ValueError("SpatialVideoTransformer: use_spatial_context needs a [(B T), tokens, C] context")
            return context[::frames].repeat_interleave(pixels, dim=0)
        if time_context is None:
            return None
        time_context = time_context.repeat_interleave(pixels, dim=0)
        return time_context[:, None] if time_context.ndim == 2 else time_context

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        time_context: torch.Tensor | None = None,
        timesteps: int | None = None,
        image_only_indicator: torch.Tensor | None = None,
    ) -> torch.Tensor:
        height, width = x.shape[-2:]
        time_context = self._temporal_context(context, time_context, timesteps, height * width)
        h = self.project_in(x)

        frame_index = torch.arange(timesteps, device=x.device).repeat(x.shape[0] // timesteps)
        frame_emb = timestep_embedding(frame_index, self.in_channels, max_period=self.max_time_embed_period)
        frame_emb = self.time_pos_embed(frame_emb.to(self.time_pos_embed[0].weight.dtype))[:, None, :]

        for block, mix_block in zip(self.transformer_blocks, self.time_stack):
            h = block(h, context=context)
            h_temporal = mix_block(h + frame_emb, context=time_context, timesteps=timesteps)
            h = self.time_mixer(x_spatial=h, x_temporal=h_temporal, image_only_indicator=image_only_indicator)
        return self.project_out(h, height, width) + x
