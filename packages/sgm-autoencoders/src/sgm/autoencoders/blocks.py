"""The building blocks of the image autoencoder (Esser et al. 2021, "Taming Transformers"; Rombach et al. 2022).

Parameter names follow the reference checkpoints (`norm1`, `conv1`, `nin_shortcut`, `q`, `k`, `v`, `proj_out`, ...);
norms and attention are computed through `sgm.kernels`, so one backend switch changes the whole network.
Blocks take and ignore extra keyword arguments (such as a video decoder's `timesteps`), so image and video
decoders share one forward signature.
"""

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from sgm.core.nn.norm import GroupNorm32
from sgm.kernels import attention

ATTENTION_TYPES = ("vanilla", "vanilla-xformers", "linear", "none")


def Normalize(in_channels: int, num_groups: int = 32, activation: str | None = None) -> GroupNorm32:
    """The autoencoder's norm: 32 groups, eps 1e-6, affine; `activation="silu"` fuses the SiLU that follows it."""
    return GroupNorm32(num_groups, in_channels, eps=1e-6, affine=True, activation=activation)


class PlainConv2d(nn.Conv2d):
    """A 2-D convolution that accepts (and ignores) the decoder's keyword arguments."""

    def forward(self, x: torch.Tensor, **ignored) -> torch.Tensor:
        return super().forward(x)


class Upsample(nn.Module):
    """Nearest-neighbour x2, then an optional 3x3 convolution."""

    def __init__(self, in_channels: int, with_conv: bool):
        super().__init__()
        self.with_conv = with_conv
        if with_conv:
            self.conv = nn.Conv2d(in_channels, in_channels, kernel_size=3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.conv(x) if self.with_conv else x


class Downsample(nn.Module):
    """A stride-2 3x3 convolution after zero-padding right and bottom by one, or 2x2 average pooling."""

    def __init__(self, in_channels: int, with_conv: bool):
        super().__init__()
        self.with_conv = with_conv
        if with_conv:
            self.conv = nn.Conv2d(in_channels, in_channels, kernel_size=3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_conv:
            return self.conv(F.pad(x, (0, 1, 0, 1), mode="constant", value=0))
        return F.avg_pool2d(x, kernel_size=2, stride=2)


class ResnetBlock(nn.Module):
    """x + conv(drop(silu(norm(conv(silu(norm(x))) + temb)))), with a 1x1 (or 3x3) shortcut when channels change."""

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int | None = None,
        conv_shortcut: bool = False,
        dropout: float,
        temb_channels: int = 512,
    ):
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.use_conv_shortcut = conv_shortcut

        self.norm1 = Normalize(in_channels, activation="silu")
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1)
        if temb_channels > 0:
            self.temb_proj = nn.Linear(temb_channels, out_channels)
        self.norm2 = Normalize(out_channels, activation="silu")
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1)
        if in_channels != out_channels:
            if conv_shortcut:
                self.conv_shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1)
            else:
                self.nin_shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=1, padding=0)

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None = None, **ignored) -> torch.Tensor:
        h = self.conv1(self.norm1(x))
        if temb is not None:
            h = h + self.temb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(self.norm2(h)))
        if self.in_channels != self.out_channels:
            x = self.conv_shortcut(x) if self.use_conv_shortcut else self.nin_shortcut(x)
        return x + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all pixels, x + proj_out(attention(q, k, v)) (Vaswani et al. 2017)."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.in_channels = in_channels
        self.norm = Normalize(in_channels)
        self.q = nn.Conv2d(in_channels, in_channels, kernel_size=1, stride=1, padding=0)
        self.k = nn.Conv2d(in_channels, in_channels, kernel_size=1, stride=1, padding=0)
        self.v = nn.Conv2d(in_channels, in_channels, kernel_size=1, stride=1, padding=0)
        self.proj_out = nn.Conv2d(in_channels, in_channels, kernel_size=1, stride=1, padding=0)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized x -> attended values, before `proj_out`, as `[b, c, h, w]`."""
        h_ = self.norm(x)
        height, width = h_.shape[-2:]
        q, k, v = (rearrange(conv(h_), "b c h w -> b 1 (h w) c").contiguous() for conv in (self.q, self.k, self.v))
        out = attention(q, k, v)
        return rearrange(out, "b 1 (h w) c -> b c h w", h=height, w=width)

    def forward(self, x: torch.Tensor, **ignored) -> torch.Tensor:
        return x + self.proj_out(self.attention(x))


class LinAttnBlock(nn.Module):
    """Linear attention (Shen et al. 2021) with one head; like the reference, it returns no residual."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.heads = 1
        self.to_qkv = nn.Conv2d(in_channels, in_channels * 3, 1, bias=False)
        self.to_out = nn.Conv2d(in_channels, in_channels, 1)

    def forward(self, x: torch.Tensor, **ignored) -> torch.Tensor:
        height, width = x.shape[-2:]
        q, k, v = rearrange(self.to_qkv(x), "b (qkv heads c) h w -> qkv b heads c (h w)", heads=self.heads, qkv=3)
        k = k.softmax(dim=-1)
        context = torch.einsum("bhdn,bhen->bhde", k, v)
        out = torch.einsum("bhde,bhdn->bhen", context, q)
        return self.to_out(rearrange(out, "b heads c (h w) -> b (heads c) h w", h=height, w=width))


class NoAttention(nn.Module):
    """`attn_type: none`: the identity, with the attention blocks' call signature."""

    def forward(self, x: torch.Tensor, **ignored) -> torch.Tensor:
        return x


def make_attn(in_channels: int, attn_type: str = "vanilla", attn_kwargs: dict | None = None) -> nn.Module:
    """The attention block a config's `attn_type` names.

    `vanilla-xformers` builds the same block as `vanilla` (identical parameters); which kernel runs is chosen by
    `sgm.kernels` (xformers where it is installed and can run, else torch's fused attention).
    """
    if attn_type not in ATTENTION_TYPES:
        raise ValueError(f"unknown attn_type {attn_type!r}: choose one of {', '.join(ATTENTION_TYPES)}")
    if attn_kwargs:
        raise ValueError(f"attn_type {attn_type!r} takes no attn_kwargs, got {sorted(attn_kwargs)}")
    if attn_type == "linear":
        return LinAttnBlock(in_channels)
    if attn_type == "none":
        return NoAttention()
    return AttnBlock(in_channels)
