"""Keeping the text's cross-attention keys and values across sampling steps: a sampler calls the network with the same
context at every step (classifier-free guidance concatenates the same two contexts each time), so each layer's
`to_k(context)` and `to_v(context)` need computing once per sampling run, not once per step."""

import contextlib
import contextvars
from collections.abc import Callable, Iterator

import torch
from torch import nn

from sgm.core.nn.attention import CrossAttention

KeysValues = tuple[torch.Tensor, torch.Tensor]
# The projections that keep a context's keys and values in the innermost `constant_context()` block.
_keeping: contextvars.ContextVar[set["KeptContextProjection"] | None] = contextvars.ContextVar("keeping", default=None)


@contextlib.contextmanager
def constant_context() -> Iterator[None]:
    """Within this block, each cross-attention layer prepared by `keep_context_projections` keeps the keys and values
    it projected from the last context and reuses them while the next context has the same values, without
    gradients. The weights must not change inside; all that was kept is dropped at the end."""
    keeping: set[KeptContextProjection] = set()
    token = _keeping.set(keeping)
    try:
        yield
    finally:
        _keeping.reset(token)
        for projection in keeping:
            projection.kept = None


def _equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Same shape, dtype, device and values; shape-only (meta) tensors have no values to compare and count as
    different, so a memory plan projects each context anew, as a run does with contexts that differ."""
    same = (a.shape, a.dtype, a.device) == (b.shape, b.dtype, b.device) and a.device.type != "meta"
    return same and torch.equal(a, b)


class KeptContextProjection:
    """A cross-attention layer's `context_keys_values`, reusing its last answer for an equal context inside
    `constant_context()`. It keeps a copy of the context: the caller may change its tensor in place (inference
    tensors have no version counter to tell)."""

    def __init__(self, project: Callable[[torch.Tensor], KeysValues]):
        self.project = project
        self.kept: tuple[torch.Tensor, KeysValues] | None = None

    def __call__(self, context: torch.Tensor) -> KeysValues:
        keeping = None if torch.is_grad_enabled() else _keeping.get()
        if keeping is not None and self.kept is not None and _equal(self.kept[0], context):
            return self.kept[1]
        keys_values = self.project(context)
        if keeping is not None:
            self.kept = (context.clone(), keys_values)
            keeping.add(self)
        return keys_values


def keep_context_projections(model: nn.Module) -> int:
    """Give every cross-attention layer of `model` a `KeptContextProjection` (once); returns how many it has."""
    layers = [m for m in model.modules() if isinstance(m, CrossAttention)]
    for layer in layers:
        if not isinstance(layer.context_keys_values, KeptContextProjection):
            layer.context_keys_values = KeptContextProjection(layer.context_keys_values)
    return len(layers)
