"""The UNet's residual block (Ho et al. 2020, after Zagoruyko & Komodakis 2016) and the sequential container that
hands each block the conditioning inputs it takes."""

from collections.abc import Sequence

import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

from sgm.core.nn.layers import conv_nd, zero_module
from sgm.core.nn.norm import normalization
from sgm.core.nn.sampling import Downsample, Upsample


class TimestepBlock(nn.Module):
    """A block whose forward takes the timestep embedding after `x`: `forward(x, emb)`."""

    # Names of the TimestepEmbedSequential inputs that forward takes after `x`, in order; see TimestepEmbedSequential.
    sequential_inputs: tuple[str, ...] = ("emb",)


class TimestepEmbedSequential(nn.Sequential):
    """`nn.Sequential` that passes each child the conditioning inputs it declares.

    A child class lists, in `sequential_inputs`, the names of the inputs its forward takes after `x` (e.g. ResBlock
    `("emb",)`, SpatialTransformer `("context",)`); children without the attribute get `x` alone. Keyword inputs
    beyond the named ones (`**extra`) reach children that list them, so new block kinds need no change here.
    """

    def forward(
        self,
        x: torch.Tensor,
        emb: torch.Tensor,
        context: torch.Tensor | list[torch.Tensor] | None = None,
        image_only_indicator: torch.Tensor | None = None,
        time_context: torch.Tensor | None = None,
        num_video_frames: int | None = None,
        **extra,
    ) -> torch.Tensor:
        inputs = dict(
            emb=emb,
            context=context,
            image_only_indicator=image_only_indicator,
            time_context=time_context,
            num_video_frames=num_video_frames,
            **extra,
        )
        for layer in self:
            names = getattr(layer, "sequential_inputs", ())
            x = layer(x, *(inputs.get(name) for name in names))
        return x


class ResBlock(TimestepBlock):
    """GroupNorm-SiLU-conv, add (or FiLM with, `use_scale_shift_norm`) the projected timestep embedding,
    GroupNorm-SiLU-dropout-zero-initialised conv, plus a skip connection; optionally up- or downsamples.

    channels / out_channels: input / output channels (out defaults to channels).
    emb_channels: width of the timestep embedding.
    use_conv: with a channel change, skip through a `kernel_size` conv instead of a 1x1 one.
    dims: 1, 2 or 3 spatial axes (video time-stacks use 3).
    exchange_temb_dims: `emb` is `[B, T, C]` for a `[B, C, T, H, W]` input (the video time-stack).
    skip_t_emb: ignore the timestep embedding (no `emb_layers`).
    """

    def __init__(
        self,
        channels: int,
        emb_channels: int,
        dropout: float,
        out_channels: int | None = None,
        use_conv: bool = False,
        use_scale_shift_norm: bool = False,
        dims: int = 2,
        use_checkpoint: bool = False,
        up: bool = False,
        down: bool = False,
        kernel_size: int | Sequence[int] = 3,
        exchange_temb_dims: bool = False,
        skip_t_emb: bool = False,
    ):
        super().__init__()
        if skip_t_emb and use_scale_shift_norm:
            raise ValueError("ResBlock: skip_t_emb=True needs use_scale_shift_norm=False (no embedding to scale by)")
        self.channels = channels
        self.emb_channels = emb_channels
        self.dropout = dropout
        self.out_channels = out_channels or channels
        self.use_conv = use_conv
        self.use_checkpoint = use_checkpoint
        self.use_scale_shift_norm = use_scale_shift_norm
        self.skip_t_emb = skip_t_emb
        self.exchange_temb_dims = exchange_temb_dims and not skip_t_emb
        if isinstance(kernel_size, int):
            padding = kernel_size // 2
        else:
            kernel_size = tuple(kernel_size)
            padding = tuple(k // 2 for k in kernel_size)

        # Index 1 of in_layers/out_layers held a separate SiLU in the reference; the norms now fuse it, and an
        # Identity keeps the indices (and so the checkpoint keys) of the layers after it.
        self.in_layers = nn.Sequential(
            normalization(channels, activation="silu"),
            nn.Identity(),
            conv_nd(dims, channels, self.out_channels, kernel_size, padding=padding),
        )

        self.updown = up or down
        if up:
            self.h_upd = Upsample(channels, False, dims)
            self.x_upd = Upsample(channels, False, dims)
        elif down:
            self.h_upd = Downsample(channels, False, dims)
            self.x_upd = Downsample(channels, False, dims)
        else:
            self.h_upd = self.x_upd = nn.Identity()

        emb_out_channels = 2 * self.out_channels if use_scale_shift_norm else self.out_channels
        self.emb_layers = (
            None if skip_t_emb else nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, emb_out_channels))
        )

        # With scale-shift the SiLU must come after the FiLM, so it cannot be fused into the norm.
        self.out_layers = nn.Sequential(
            normalization(self.out_channels, activation=None if use_scale_shift_norm else "silu"),
            nn.SiLU() if use_scale_shift_norm else nn.Identity(),
            nn.Dropout(p=dropout),
            zero_module(conv_nd(dims, self.out_channels, self.out_channels, kernel_size, padding=padding)),
        )

        if self.out_channels == channels:
            self.skip_connection = nn.Identity()
        elif use_conv:
            self.skip_connection = conv_nd(dims, channels, self.out_channels, kernel_size, padding=padding)
        else:
            self.skip_connection = conv_nd(dims, channels, self.out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """`x`: `[N, C, ...]`; `emb`: `[N, emb_channels]` (`[B, T, emb_channels]` with `exchange_temb_dims`)."""
        if self.use_checkpoint and torch.is_grad_enabled():
            return checkpoint(self._forward, x, emb, use_reentrant=False)
        return self._forward(x, emb)

    def _forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.updown:
            h = self.in_layers[0](x)
            h = self.h_upd(h)
            x = self.x_upd(x)
            h = self.in_layers[2](h)
        else:
            h = self.in_layers(x)

        if self.emb_layers is None:
            return self.skip_connection(x) + self.out_layers(h)

        emb_out = self.emb_layers(emb).to(h.dtype)
        emb_out = emb_out.reshape(*emb_out.shape, *(1,) * (h.ndim - emb_out.ndim))
        if self.use_scale_shift_norm:
            scale, shift = emb_out.chunk(2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[1:](h)
        else:
            if self.exchange_temb_dims:
                emb_out = emb_out.transpose(1, 2)  # [B, T, C, 1, 1] -> [B, C, T, 1, 1]
            h = self.out_layers(h + emb_out)
        return self.skip_connection(x) + h
