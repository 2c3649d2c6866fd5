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
            raise ValueError("UNetModel: set num_heads or num_head_channels")
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

        time_embed_dim = model_channels * 4
        self.time_embed = _mlp(model_channels, time_embed_dim)
        if num_classes is not None:
            self.label_emb = self._label_embedding(num_classes, model_channels, time_embed_dim, adm_in_channels)

        def resblock(ch_in: int, ch_out: int, **kwargs) -> ResBlock:
            return ResBlock(
                ch_in,
                time_embed_dim,
                dropout,
                out_channels=ch_out,
                dims=dims,
                use_checkpoint=use_checkpoint,
                use_scale_shift_norm=use_scale_shift_norm,
                **kwargs,
            )

        def transformer(ch: int, depth: int, disable_self_attn: bool) -> SpatialTransformer:
            if num_head_channels == -1:
                heads, dim_head = num_heads, ch // num_heads
            else:
                heads, dim_head = ch // num_head_channels, num_head_channels
            return SpatialTransformer(
                ch,
                heads,
                dim_head,
                depth=depth,
                context_dim=context_dim,
                disable_self_attn=disable_self_attn,
                use_linear=use_linear_in_transformer,
                attn_type=spatial_transformer_attn_type,
                use_checkpoint=use_checkpoint,
            )

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
                layers: list[nn.Module] = [resblock(ch, mult * model_channels)]
                ch = mult * model_channels
                if wants_transformer(level, index, ds):
                    # The reference disables input-side self-attention only when a context_dim is set.
                    disabled = context_dim is not None and self_attn_disabled(level)
                    layers.append(transformer(ch, transformer_depth[level], disabled))
                self.input_blocks.append(TimestepEmbedSequential(*layers))
                skip_channels.append(ch)
            if level != levels - 1:
                down = (
                    resblock(ch, ch, down=True)
                    if resblock_updown
                    else Downsample(ch, conv_resample, dims=dims, out_channels=ch)
                )
                self.input_blocks.append(TimestepEmbedSequential(down))
                skip_channels.append(ch)
                ds *= 2

        self.middle_block = TimestepEmbedSequential(
            resblock(ch, ch),
            nn.Identity()
            if disable_middle_transformer
            else transformer(ch, transformer_depth_middle, disable_middle_self_attn),
            resblock(ch, None),
        )

        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mult))):
            for index in range(self.num_res_blocks[level] + 1):
                layers = [resblock(ch + skip_channels.pop(), model_channels * mult)]
                ch = model_channels * mult
                if wants_transformer(level, index, ds):
                    layers.append(transformer(ch, transformer_depth[level], self_attn_disabled(level)))
                if level and index == self.num_res_blocks[level]:
                    layers.append(
                        resblock(ch, ch, up=True)
                        if resblock_updown
                        else Upsample(ch, conv_resample, dims=dims, out_channels=ch)
                    )
                    ds //= 2
                self.output_blocks.append(TimestepEmbedSequential(*layers))

        self.out = nn.Sequential(
            normalization(ch, activation="silu"),
            nn.Identity(),  # the reference's separate SiLU, fused into the norm; keeps out.2's index
            zero_module(conv_nd(dims, model_channels, out_channels, 3, padding=1)),
        )

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
        if (y is not None) != (self.num_classes is not None):
            raise ValueError(
                "UNetModel: pass y exactly when the model is class-conditional "
                f"(num_classes={self.num_classes!r}, y {'given' if y is not None else 'missing'})"
            )
        if timesteps is None:
            raise ValueError("UNetModel: timesteps are required (a [batch] tensor)")
        dtype = self.time_embed[0].weight.dtype
        emb = self.time_embed(timestep_embedding(timesteps, self.model_channels).to(dtype))
        if y is not None:
            if y.shape[0] != x.shape[0]:
                raise ValueError(f"UNetModel: y has batch {y.shape[0]}, x has {x.shape[0]}")
            emb = emb + self.label_emb(y.to(dtype) if y.is_floating_point() else y)
        context = _to_dtype(context, dtype)

        h = x.to(dtype)
        skips = []
        for module in self.input_blocks:
            h = module(h, emb, context)
            skips.append(h)
        h = self.middle_block(h, emb, context)
        for module in self.output_blocks:
            h = module(torch.cat([h, skips.pop()], dim=1), emb, context)
        return self.out(h).to(x.dtype)


def _to_dtype(context: torch.Tensor | list | None, dtype: torch.dtype):
    if isinstance(context, list):
        return [_to_dtype(c, dtype) for c in context]
    return None if context is None else context.to(dtype)
