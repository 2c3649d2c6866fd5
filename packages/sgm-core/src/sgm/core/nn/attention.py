"""Multi-head cross-attention (Vaswani et al. 2017) over token sequences, computed by `sgm.kernels.attention`."""

import contextlib
import contextvars
from collections.abc import Iterator

import torch
import torch.nn as nn

from sgm.kernels import attention

# The cross-attention layers that keep a context's keys and values in the innermost `constant_context()` block.
_keeping: contextvars.ContextVar[set["CrossAttention"] | None] = contextvars.ContextVar("keeping", default=None)


@contextlib.contextmanager
def constant_context() -> Iterator[None]:
    """Within this block, each cross-attention layer keeps the keys and values it projected from the last context and
    reuses them while the context it gets has the same values, without gradients: a sampler calls the network with
    the same text at every step. The weights must not change inside; all that was kept is dropped at the end."""
    keeping: set[CrossAttention] = set()
    token = _keeping.set(keeping)
    try:
        yield
    finally:
        _keeping.reset(token)
        for layer in keeping:
            layer._kept = None


def _equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Same shape, dtype, device and values."""
    return (a.shape, a.dtype, a.device) == (b.shape, b.dtype, b.device) and torch.equal(a, b)


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
        self._kept: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # see constant_context

    def _split_heads(self, t: torch.Tensor) -> torch.Tensor:
        return t.unflatten(-1, (self.heads, self.dim_head)).transpose(1, 2)  # [B, N, H*D] -> [B, H, N, D]

    def _project_keys_values(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._split_heads(self.to_k(source)), self._split_heads(self.to_v(source))

    def _keys_values(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The context's keys and values; inside `constant_context()`, kept for an equal context."""
        keeping = None if torch.is_grad_enabled() else _keeping.get()
        if keeping is not None and self._kept is not None:
            kept_context, k, v = self._kept
            if _equal(kept_context, context):
                return k, v
        k, v = self._project_keys_values(context)
        if keeping is not None:
            # A copy: the caller may change its tensor in place (inference tensors have no version counter to tell).
            self._kept = (context.clone(), k, v)
            keeping.add(self)
        return k, v

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        q = self._split_heads(self.to_q(x))
        k, v = self._project_keys_values(x) if context is None else self._keys_values(context)
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
