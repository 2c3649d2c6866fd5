"""Transformer blocks for image features (Rombach et al. 2022, "High-Resolution Image Synthesis with Latent
Diffusion Models", section 3.3): self-attention, cross-attention to the conditioning, gated feed-forward."""

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from sgm.core.nn.attention import attention_class
from sgm.core.nn.layers import zero_module
from sgm.core.nn.norm import GroupNorm32, LayerNorm32


class GEGLU(nn.Module):
    """`a * gelu(b)` with `[a, b]` one projection of `x` (Shazeer 2020, "GLU Variants Improve Transformer")."""

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.proj(x).chunk(2, dim=-1)
        return a * F.gelu(b)


class FeedForward(nn.Module):
    """Linear-GELU (or GEGLU, `glu=True`) to `dim * mult`, dropout, linear to `dim_out` (default `dim`)."""

    def __init__(self, dim: int, dim_out: int | None = None, mult: int = 4, glu: bool = False, dropout: float = 0.0):
        super().__init__()
        inner_dim = int(dim * mult)
        project_in = GEGLU(dim, inner_dim) if glu else nn.Sequential(nn.Linear(dim, inner_dim), nn.GELU())
        self.net = nn.Sequential(project_in, nn.Dropout(dropout), nn.Linear(inner_dim, dim_out or dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class BasicTransformerBlock(nn.Module):
    """Pre-norm `x + attn1(norm1(x))`, `x + attn2(norm2(x), context)`, `x + ff(norm3(x))` on `[B, N, dim]`.

    attn1 is self-attention, or cross-attention to `context` with `disable_self_attn`; attn2 attends to
    `context` (itself when context is None). `checkpoint` recomputes activations in the backward pass.
    sdp_backend: an `sgm.kernels` attention backend name for this block (None: the process-wide choice).
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
        disable_self_attn: bool = False,
        attn_mode: str = "softmax",
        sdp_backend: str | None = None,
    ):
        super().__init__()
        attn_cls = attention_class(attn_mode)
        self.disable_self_attn = disable_self_attn
        self.attn1 = attn_cls(
            query_dim=dim,
            heads=n_heads,
            dim_head=d_head,
            dropout=dropout,
            context_dim=context_dim if disable_self_attn else None,
            backend=sdp_backend,
        )
        self.ff = FeedForward(dim, dropout=dropout, glu=gated_ff)
        self.attn2 = attn_cls(
            query_dim=dim, context_dim=context_dim, heads=n_heads, dim_head=d_head, dropout=dropout, backend=sdp_backend
        )
        self.norm1 = LayerNorm32(dim)
        self.norm2 = LayerNorm32(dim)
        self.norm3 = LayerNorm32(dim)
        self.checkpoint = checkpoint

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        if self.checkpoint and torch.is_grad_enabled():
            return checkpoint(self._forward, x, context, use_reentrant=False)
        return self._forward(x, context)

    def _forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        x = self.attn1(self.norm1(x), context=context if self.disable_self_attn else None) + x
        x = self.attn2(self.norm2(x), context=context) + x
        return self.ff(self.norm3(x)) + x


def _per_block_context_dims(context_dim: int | Sequence[int] | None, depth: int) -> list[int | None]:
    """One context width per transformer block: an int (or a single-valued list) is repeated `depth` times."""
    if context_dim is None:
        return [None] * depth
    dims = [context_dim] if isinstance(context_dim, int) else [int(d) for d in context_dim]
    if len(dims) == depth:
        return dims
    if len(set(dims)) != 1:
        raise ValueError(
            f"context_dim {dims} has {len(dims)} entries for {depth} transformer blocks; give one per block "
            "or a single width"
        )
    return dims[:1] * depth


class SpatialTransformer(nn.Module):
    """Transformer over the pixels of a `[B, C, H, W]` feature map, added back to it.

    GroupNorm (eps 1e-6), project to `n_heads * d_head` (1x1 conv, or a linear after flattening with `use_linear`),
    `depth` BasicTransformerBlocks, zero-initialised projection back. `context_dim` may be a list, one per block;
    `context` may likewise be a list, one tensor per block (a single one is shared).
    """

    sequential_inputs = ("context",)

    def __init__(
        self,
        in_channels: int,
        n_heads: int,
        d_head: int,
        depth: int = 1,
        dropout: float = 0.0,
        context_dim: int | Sequence[int] | None = None,
        disable_self_attn: bool = False,
        use_linear: bool = False,
        attn_type: str = "softmax",
        use_checkpoint: bool = True,
        sdp_backend: str | None = None,
    ):
        super().__init__()
        context_dims = _per_block_context_dims(context_dim, depth)
        self.in_channels = in_channels
        inner_dim = n_heads * d_head
        self.norm = GroupNorm32(32, in_channels, eps=1e-6)
        if use_linear:
            self.proj_in = nn.Linear(in_channels, inner_dim)
        else:
            self.proj_in = nn.Conv2d(in_channels, inner_dim, kernel_size=1)
        self.transformer_blocks = nn.ModuleList(
            BasicTransformerBlock(
                inner_dim,
                n_heads,
                d_head,
                dropout=dropout,
                context_dim=context_dims[d],
                disable_self_attn=disable_self_attn,
                attn_mode=attn_type,
                checkpoint=use_checkpoint,
                sdp_backend=sdp_backend,
            )
            for d in range(depth)
        )
        if use_linear:
            self.proj_out = zero_module(nn.Linear(inner_dim, in_channels))
        else:
            self.proj_out = zero_module(nn.Conv2d(inner_dim, in_channels, kernel_size=1))
        self.use_linear = use_linear

    def project_in(self, x: torch.Tensor) -> torch.Tensor:
        """`[B, C, H, W]` -> normalised, projected tokens `[B, H*W, inner_dim]`."""
        x = self.norm(x)
        if not self.use_linear:
            x = self.proj_in(x)
        x = x.flatten(2).transpose(1, 2)
        return self.proj_in(x) if self.use_linear else x

    def project_out(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Tokens `[B, H*W, inner_dim]` -> `[B, C, H, W]`."""
        if self.use_linear:
            x = self.proj_out(x)
        x = x.transpose(1, 2).unflatten(2, (height, width))
        return x if self.use_linear else self.proj_out(x)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | list[torch.Tensor | None] | None = None
    ) -> torch.Tensor:
        contexts = context if isinstance(context, list) else [context]
        height, width = x.shape[-2:]
        h = self.project_in(x)
        for i, block in enumerate(self.transformer_blocks):
            h = block(h, context=contexts[i if len(contexts) > 1 else 0])
        return x + self.project_out(h, height, width)  # x first: the sum keeps x's memory layout
