"""Attention and normalization for every sgm network, behind one dispatch point.

`attention`, `group_norm` and `layer_norm` take a `backend` argument; `"auto"` (the default) follows
`SGM_ATTENTION_BACKEND` when it is set, else picks the fastest implementation that supports the inputs.
"""

from sgm.kernels.attention import attention
from sgm.kernels.backend import BACKENDS, available_backends, default_backend, graph_launches, use_backend
from sgm.kernels.norms import group_norm, layer_norm
from sgm.kernels.packed import PackedConv2d, PackedLinear, pack_weights, unpack_weights

__all__ = [
    "BACKENDS",
    "PackedConv2d",
    "PackedLinear",
    "attention",
    "available_backends",
    "default_backend",
    "graph_launches",
    "group_norm",
    "layer_norm",
    "pack_weights",
    "unpack_weights",
    "use_backend",
]
