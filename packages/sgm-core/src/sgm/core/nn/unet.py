"""The image UNet of SD 2.1 and SDXL (Ronneberger et al. 2015; Dhariwal & Nichol 2021; Rombach et al. 2022)."""

from collections.abc import Sequence

import torch
import torch.nn as nn

from sgm.core.nn.layers import conv_nd, zero_module
from sgm.core.nn.norm import normalization
from sgm.core.nn.resblock import ResBlock, TimestepEmbedSequential
from sgm.core.nn.sampling import Downsample, Upsample
from sgm.core.nn.timestep import Timestep, timestep_embedding
from sgm.core.nn.transformer import SpatialTransformer


def _per_level(value: int | Sequence[int], levels: int, name: str) -> list[int]:
    if isinstance(value, int):
        return [value] * levels
    value = [int(v) for v in value]
    if len(value) != levels:
        raise ValueError(f"{name} {value} needs one entry per level of channel_mult ({levels}), or a single int")
    return value


def _mlp(dim_in: int, dim_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim_in, dim_out), nn.SiLU(), nn.Linear(dim_out, dim_out))


class UNetModel(nn.Module):
    """UNet with timestep embedding, ResBlocks and SpatialTransformers, as the reference builds it.

    in_channels / out_channels: channels of the input and output tensors.
    model_channels: base width; level `i` has `channel_mult[i] * model_channels` channels.
    num_res_blocks: ResBlocks per level (int, or one per level).
    attention_resolutions: downsampling factors (1, 2, 4, ...) whose levels get SpatialTransformers.
    num_classes: None, an int (class labels, `nn.Embedding`), "continuous", "timestep" or "sequential"
        (a `[N, adm_in_channels]` vector through an MLP, as SDXL); `y` must be given iff it is set.
    num_heads / num_head_channels: heads per transformer, or channels per head (which then wins).
    transformer_depth: blocks per transformer (int, or one per level); the middle uses
        `transformer_depth_middle`, default the last level's.
    context_dim: cross-attention context width (int, or a list, one per block of a transformer).
    disable_self_attentions: per level, make attn1 a cross-attention too.
    num_attention_blocks: per level, how many of the ResBlocks get a transformer.
    use_checkpoint: gradient checkpointing in every ResBlock and transformer block.
    spatial_transformer_attn_type: "softmax" or "softmax-xformers" (same computation; see sgm.kernels).
    use_fp16, legacy, num_heads_upsample: accepted for old configs; they do not change the network.

    The layout is built here once. Networks that fill it with other blocks (the video UNets) subclass this and
    override the `_make_*` hooks; hooks may read attributes a subclass sets before calling `__init__`.
    Their forward passes extra block inputs to `_run_levels`, which routes them by `sequential_inputs`.
    """

    def __init__(
        self,
        in_channels: int,
        model_channels: int,
        out_channels: int,
        num_res_blocks: int | Sequence[int],
        attention_resolutions: Sequence[int],
        dropout: float = 0.0,
        channel_mult: Sequence[int] = (1, 2, 4, 8),
        conv_resample: bool = True,
        dims: int = 2,
        num_classes: int | str | None = None,
        use_checkpoint: bool = False,
        use_fp16: bool = False,
        num_heads: int = -1,
        num_head_channels: int = -1,
        num_heads_upsample: int = -1,
        use_scale_shift_norm: bool = False,
        resblock_updown: bool = False,
        transformer_depth: int | Sequence[int] = 1,
        transformer_depth_middle: int | None = None,
        context_dim: int | Sequence[int] | None = None,
        disable_self_attentions: Sequence[bool] | None = None,
        num_attention_blocks: Sequence[int] | None = None,
        disable_middle_self_attn: bool = False,
        disable_middle_transformer: bool = False,
        use_linear_in_transformer: bool = False,
        spatial_transformer_attn_type: str = "softmax",
        adm_in_channels: int | None = None,
        legacy: bool = True,
    ):
        super().__init__()
        if num_heads == -1 and num_head_channels == -1:
            raise ValueError(f"{type(self).__name__}: set num_heads or num_head_channels")
        levels = len(channel_mult)
        self.in_channels = in_channels
        self.model_channels = model_channels
        self.out_channels = out_channels
        self.num_res_blocks = _per_level(num_res_blocks, levels, "num_res_blocks")
        transformer_depth = _per_level(transformer_depth, levels, "transformer_depth")
        if transformer_depth_middle is None:
            transformer_depth_middle = transformer_depth[-1]
        if disable_self_attentions is not None and len(disable_self_attentions) != levels:
            raise ValueError(f"disable_self_attentions needs one entry per level ({levels})")
        if num_attention_blocks is not None:
            num_attention_blocks = _per_level(num_attention_blocks, levels, "num_attention_blocks")
            if any(n > r for n, r in zip(num_attention_blocks, self.num_res_blocks)):
                raise ValueError(
                    f"num_attention_blocks {num_attention_blocks} exceeds num_res_blocks {self.num_res_blocks}"
                )
        if isinstance(context_dim, Sequence):
            context_dim = [int(d) for d in context_dim]
        self.attention_resolutions = attention_resolutions
        self.dropout = dropout
        self.channel_mult = channel_mult
        self.num_classes = num_classes
        self.use_checkpoint = use_checkpoint
        # What the block hooks read.
        self.dims = dims
        self.conv_resample = conv_resample
        self.use_scale_shift_norm = use_scale_shift_norm
        self.context_dim = context_dim
        self.use_linear_in_transformer = use_linear_in_transformer
        self.spatial_transformer_attn_type = spatial_transformer_attn_type

        self.time_embed_dim = model_channels * 4
        self.time_embed = _mlp(model_channels, self.time_embed_dim)
        if num_classes is not None:
            self.label_emb = self._label_embedding(num_classes, model_channels, self.time_embed_dim, adm_in_channels)

        def transformer(ch: int, depth: int, disable_self_attn: bool) -> nn.Module:
            if num_head_channels == -1:
                heads, dim_head = num_heads, ch // num_heads
            else:
                heads, dim_head = ch // num_head_channels, num_head_channels
            if heads < 1 or dim_head < 1:
                raise ValueError(
                    f"{type(self).__name__}: a transformer on {ch} channels gets {heads} heads of {dim_head} channels "
                    f"(num_heads {num_heads}, num_head_channels {num_head_channels}): make the heads fit the channels"
                )
            return self._make_transformer(ch, heads, dim_head, depth, disable_self_attn)

        def wants_transformer(level: int, index: int, ds: int) -> bool:
            return ds in attention_resolutions and (num_attention_blocks is None or index < num_attention_blocks[level])

        def self_attn_disabled(level: int) -> bool:
            return disable_self_attentions is not None and bool(disable_self_attentions[level])

        self.input_blocks = nn.ModuleList(
            [TimestepEmbedSequential(conv_nd(dims, in_channels, model_channels, 3, padding=1))]
        )
        skip_channels = [model_channels]
        ch, ds = model_channels, 1
        for level, mult in enumerate(channel_mult):
            for index in range(self.num_res_blocks[level]):
                layers: list[nn.Module] = [self._make_resblock(ch, mult * model_channels)]
                ch = mult * model_channels
                if wants_transformer(level, index, ds):
                    # The reference disables input-side self-attention only when a context_dim is set.
                    disabled = context_dim is not None and self_attn_disabled(level)
                    layers.append(transformer(ch, transformer_depth[level], disabled))
                self.input_blocks.append(TimestepEmbedSequential(*layers))
                skip_channels.append(ch)
            if level != levels - 1:
                down = self._make_resblock(ch, ch, down=True) if resblock_updown else self._make_downsample(ch)
                self.input_blocks.append(TimestepEmbedSequential(down))
                skip_channels.append(ch)
                ds *= 2

        self.middle_block = TimestepEmbedSequential(
            self._make_resblock(ch, ch),
            nn.Identity()
            if disable_middle_transformer
            else transformer(ch, transformer_depth_middle, disable_middle_self_attn),
            self._make_resblock(ch, ch),
        )

        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mult))):
            for index in range(self.num_res_blocks[level] + 1):
                layers = [self._make_resblock(ch + skip_channels.pop(), model_channels * mult)]
                ch = model_channels * mult
                if wants_transformer(level, index, ds):
                    layers.append(transformer(ch, transformer_depth[level], self_attn_disabled(level)))
                if level and index == self.num_res_blocks[level]:
                    layers.append(self._make_resblock(ch, ch, up=True) if resblock_updown else self._make_upsample(ch))
                    ds //= 2
                self.output_blocks.append(TimestepEmbedSequential(*layers))

        self.out = nn.Sequential(
            normalization(ch, activation="silu"),
            nn.Identity(),  # the reference's separate SiLU, fused into the norm; keeps out.2's index
            zero_module(conv_nd(dims, model_channels, out_channels, 3, padding=1)),
        )

    def _make_resblock(self, channels: int, out_channels: int, *, down: bool = False, up: bool = False) -> nn.Module:
        """The residual block from `channels` to `out_channels`, optionally down- or upsampling."""
        return ResBlock(
            channels,
            self.time_embed_dim,
            self.dropout,
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
        """The attention block over `channels`: `depth` transformer blocks of `heads` x `head_dim`."""
        return SpatialTransformer(
            channels,
            heads,
            head_dim,
            depth=depth,
            context_dim=self.context_dim,
            disable_self_attn=disable_self_attn,
            use_linear=self.use_linear_in_transformer,
            attn_type=self.spatial_transformer_attn_type,
            use_checkpoint=self.use_checkpoint,
        )

    def _make_downsample(self, channels: int) -> nn.Module:
        return Downsample(channels, self.conv_resample, dims=self.dims, out_channels=channels)

    def _make_upsample(self, channels: int) -> nn.Module:
        return Upsample(channels, self.conv_resample, dims=self.dims, out_channels=channels)

    @staticmethod
    def _label_embedding(
        num_classes: int | str, model_channels: int, time_embed_dim: int, adm_in_channels: int | None
    ) -> nn.Module:
        if isinstance(num_classes, int):
            return nn.Embedding(num_classes, time_embed_dim)
        if num_classes == "continuous":
            return nn.Linear(1, time_embed_dim)
        if num_classes == "timestep":
            return nn.Sequential(Timestep(model_channels), _mlp(model_channels, time_embed_dim))
        if num_classes == "sequential":
            if adm_in_channels is None:
                raise ValueError("UNetModel: num_classes='sequential' needs adm_in_channels (the width of y)")
            return nn.Sequential(_mlp(adm_in_channels, time_embed_dim))
        raise ValueError(
            f"UNetModel: num_classes must be an int, 'continuous', 'timestep' or 'sequential', got {num_classes!r}"
        )

    def forward(
        self,
        x: torch.Tensor,
        timesteps: torch.Tensor | None = None,
        context: torch.Tensor | list[torch.Tensor] | None = None,
        y: torch.Tensor | None = None,
        **kwargs,
    ) -> torch.Tensor:
        """`x` `[N, C, H, W]`, `timesteps` `[N]`, `context` `[N, tokens, context_dim]`, `y` `[N]` labels or
        `[N, adm_in_channels]`; returns `[N, out_channels, H, W]` in `x`'s dtype. Extra kwargs are ignored."""
        emb = self._embedding(x, timesteps, y)
        return self._run_levels(x, emb, context=to_dtype(context, emb.dtype))

    def _embedding(self, x: torch.Tensor, timesteps: torch.Tensor | None, y: torch.Tensor | None) -> torch.Tensor:
        """`time_embed(sinusoid(t))`, plus `label_emb(y)` for class-conditional networks, in the weights' dtype."""
        name = type(self).__name__
        if (y is not None) != (self.num_classes is not None):
            raise ValueError(
                f"{name}: pass y exactly when the model is class-conditional "
                f"(num_classes={self.num_classes!r}, y {'given' if y is not None else 'missing'})"
            )
        if timesteps is None:
            raise ValueError(f"{name}: timesteps are required (a [batch] tensor)")
        dtype = self.time_embed[0].weight.dtype
        emb = self.time_embed(timestep_embedding(timesteps, self.model_channels).to(dtype))
        if y is not None:
            if y.shape[0] != x.shape[0]:
                raise ValueError(f"{name}: y has batch {y.shape[0]}, x has {x.shape[0]}")
            emb = emb + self.label_emb(y.to(dtype) if y.is_floating_point() else y)
        return emb

    def _run_levels(self, x: torch.Tensor, emb: torch.Tensor, **inputs) -> torch.Tensor:
        """Input, middle and output blocks with skips, then the head; each of `inputs` (context,
        num_video_frames, ...) reaches the blocks whose `sequential_inputs` name it."""
        h = x.to(emb.dtype)
        skips = []
        for module in self.input_blocks:
            h = module(h, emb, **inputs)
            skips.append(h)
        h = self.middle_block(h, emb, **inputs)
        for module in self.output_blocks:
            h = module(torch.cat([h, skips.pop()], dim=1), emb, **inputs)
        return self.out(h).to(x.dtype).contiguous()


def to_dtype(value: torch.Tensor | list | None, dtype: torch.dtype):
    """Floating tensors (also inside a list) in `dtype`, the network's; other values as they are."""
    if isinstance(value, list):
        return [to_dtype(v, dtype) for v in value]
    if value is None or not value.is_floating_point():
        return value
    return value.to(dtype)
