"""Multi-head cross-attention (Vaswani et al. 2017) over token sequences, computed by `sgm.kernels.attention`."""

import torch
import torch.nn as nn

from sgm.kernels import attention


class CrossAttention(nn.Module):
    """Queries from `x` `[B, N, query_dim]`, keys and values from `context` `[B, M, context_dim]` (`x` itself when
    `context` is None, i.e. self-attention); `heads` heads of width `dim_head`, then an output projection.

    backend: an `sgm.kernels` attention backend name; None follows the process-wide choice (`auto`).
    """

    def __init__(
        self,
        query_dim: int,
        context_dim: int | None = None,
        heads: int = 8,
        dim_head: int = 64,
        dropout: float = 0.0,
        backend: str | None = None,
    ):
        super().__init__()
        inner_dim = dim_head * heads
        context_dim = query_dim if context_dim is None else context_dim
        self.heads = heads
        self.dim_head = dim_head
        self.backend = backend or "auto"
        self.to_q = nn.Linear(query_dim, inner_dim, bias=False)
        self.to_k = nn.Linear(context_dim, inner_dim, bias=False)
        self.to_v = nn.Linear(context_dim, inner_dim, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner_dim, query_dim), nn.Dropout(dropout))

    def _split_heads(self, t: torch.Tensor) -> torch.Tensor:
        return t.unflatten(-1, (self.heads, self.dim_head)).transpose(1, 2)  # [B, N, H*D] -> [B, H, N, D]

    def keys_values(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._split_heads(self.to_k(source)), self._split_heads(self.to_v(source))

    def context_keys_values(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The keys and values of an external context (the text); inference may keep them across calls
        (`sgm.core.inference.keep_context_projections`)."""
        return self.keys_values(context)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        q = self._split_heads(self.to_q(x))
        k, v = self.keys_values(x) if context is None else self.context_keys_values(context)
        out = attention(q, k, v, backend=self.backend)
        return self.to_out(out.transpose(1, 2).flatten(2))


# The reference's xformers class; here every backend is dispatched by sgm.kernels, so it is the same class.
MemoryEfficientCrossAttention = CrossAttention

# The reference's `attn_mode` / `attn_type` values; both mean softmax attention by whichever backend runs.
ATTENTION_MODES = {"softmax": CrossAttention, "softmax-xformers": CrossAttention}


def attention_class(attn_mode: str) -> type[CrossAttention]:
    if attn_mode not in ATTENTION_MODES:
        raise ValueError(f"unknown attention mode {attn_mode!r}: choose one of {', '.join(ATTENTION_MODES)}")
    return ATTENTION_MODES[attn_mode]
