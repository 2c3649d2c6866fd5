"""The encoder-middle-decoder layout the video UNets share with the image UNet (Ronneberger et al. 2015;
Rombach et al. 2022); the video networks differ only in which residual and transformer blocks fill it."""

from collections.abc import Callable, Sequence

import torch
import torch.nn as nn

from sgm.core.nn.layers import conv_nd, zero_module
from sgm.core.nn.norm import normalization
from sgm.core.nn.resblock import TimestepEmbedSequential
from sgm.core.nn.sampling import Downsample, Upsample
from sgm.core.nn.timestep import timestep_embedding
from sgm.core.nn.unet import UNetModel

# resblock(channels, out_channels, down=..., up=...); transformer(channels, heads, head_dim, depth)
MakeResBlock = Callable[..., nn.Module]
MakeTransformer = Callable[[int, int, int, int], nn.Module]


def heads_and_dim(channels: int, num_heads: int, num_head_channels: int) -> tuple[int, int]:
    """`(heads, head_dim)`: fixed heads, or (when `num_head_channels` is set, which wins) fixed head width."""
    if num_head_channels == -1:
        return num_heads, channels // num_heads
    return channels // num_head_channels, num_head_channels


class TimeMixingUNet(nn.Module):
    """Base of VideoUNet and SpatialUNetModelWithTime: timestep (+ label) embedding, input blocks, middle block,
    output blocks with skip connections, and the output head, under the reference's module names."""

    def _build_embeddings(
        self, model_channels: int, num_classes: int | str | None, adm_in_channels: int | None
    ) -> int:
        time_embed_dim = model_channels * 4
        self.time_embed = nn.Sequential(
            nn.Linear(model_channels, time_embed_dim), nn.SiLU(), nn.Linear(time_embed_dim, time_embed_dim)
        )
        if num_classes is not None:
            self.label_emb = UNetModel._label_embedding(num_classes, model_channels, time_embed_dim, adm_in_channels)
        return time_embed_dim

    def _build_levels(
        self,
        *,
        in_channels: int,
        model_channels: int,
        out_channels: int,
        num_res_blocks: int,
        attention_resolutions: Sequence[int],
        channel_mult: Sequence[int],
        conv_resample: bool,
        dims: int,
        resblock_updown: bool,
        time_downup: bool,
        num_heads: int,
        num_head_channels: int,
        transformer_depth: int | Sequence[int],
        transformer_depth_middle: int | None,
        resblock: MakeResBlock,
        transformer: MakeTransformer,
    ) -> None:
        if num_heads == -1 and num_head_channels == -1:
            raise ValueError(f"{type(self).__name__}: set num_heads or num_head_channels")
        levels = len(channel_mult)
        depths = [transformer_depth] * levels if isinstance(transformer_depth, int) else list(transformer_depth)
        if len(depths) != levels:
            raise ValueError(f"transformer_depth {depths} needs one entry per level of channel_mult ({levels})")
        depth_middle = depths[-1] if transformer_depth_middle is None else transformer_depth_middle

        def attention(ch: int, depth: int) -> nn.Module:
            return transformer(ch, *heads_and_dim(ch, num_heads, num_head_channels), depth)

        self.input_blocks = nn.ModuleList(
            [TimestepEmbedSequential(conv_nd(dims, in_channels, model_channels, 3, padding=1))]
        )
        skip_channels = [model_channels]
        ch, ds = model_channels, 1
        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                layers = [resblock(ch, mult * model_channels)]
                ch = mult * model_channels
                if ds in attention_resolutions:
                    layers.append(attention(ch, depths[level]))
                self.input_blocks.append(TimestepEmbedSequential(*layers))
                skip_channels.append(ch)
            if level != levels - 1:
                down = (
                    resblock(ch, ch, down=True)
                    if resblock_updown
                    else Downsample(ch, conv_resample, dims=dims, out_channels=ch, third_down=time_downup)
                )
                self.input_blocks.append(TimestepEmbedSequential(down))
                skip_channels.append(ch)
                ds *= 2

        self.middle_block = TimestepEmbedSequential(
            resblock(ch, None), attention(ch, depth_middle), resblock(ch, None)
        )

        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mult))):
            for index in range(num_res_blocks + 1):
                layers = [resblock(ch + skip_channels.pop(), model_channels * mult)]
                ch = model_channels * mult
                if ds in attention_resolutions:
                    layers.append(attention(ch, depths[level]))
                if level and index == num_res_blocks:
                    layers.append(
                        resblock(ch, ch, up=True)
                        if resblock_updown
                        else Upsample(ch, conv_resample, dims=dims, out_channels=ch, third_up=time_downup)
                    )
                    ds //= 2
                self.output_blocks.append(TimestepEmbedSequential(*layers))

        self.out = nn.Sequential(
            normalization(ch, activation="silu"),
            nn.Identity(),  # the reference's separate SiLU, fused into the norm; keeps out.2's index
            zero_module(conv_nd(dims, model_channels, out_channels, 3, padding=1)),
        )

    def _embedding(self, x: torch.Tensor, timesteps: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """`time_embed(sinusoid(t))`, plus `label_emb(y)` for class-conditional networks, in the weights' dtype."""
        if (y is not None) != hasattr(self, "label_emb"):
            raise ValueError(
                f"{type(self).__name__}: pass y exactly when the model is class-conditional "
                f"(num_classes={self.num_classes!r}, y {'given' if y is not None else 'missing'})"
            )
        dtype = self.time_embed[0].weight.dtype
        emb = self.time_embed(timestep_embedding(timesteps, self.model_channels).to(dtype))
        if y is not None:
            if y.shape[0] != x.shape[0]:
                raise ValueError(f"{type(self).__name__}: y has batch {y.shape[0]}, x has {x.shape[0]}")
            emb = emb + self.label_emb(y.to(dtype) if y.is_floating_point() else y)
        return emb

    def _run_levels(self, x: torch.Tensor, emb: torch.Tensor, **inputs) -> torch.Tensor:
        """Input, middle and output blocks with skips, then the head; `inputs` reach the blocks that take them."""
        h = x.to(emb.dtype)
        skips = []
        for module in self.input_blocks:
            h = module(h, emb, **inputs)
            skips.append(h)
        h = self.middle_block(h, emb, **inputs)
        for module in self.output_blocks:
            h = module(torch.cat([h, skips.pop()], dim=1), emb, **inputs)
        return self.out(h).to(x.dtype)


def to_dtype(tensor: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """Floating tensors in `dtype` (the network's), others and None as they are."""
    if tensor is None or not tensor.is_floating_point():
        return tensor
    return tensor.to(dtype)
