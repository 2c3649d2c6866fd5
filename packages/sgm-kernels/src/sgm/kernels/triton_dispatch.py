"""Bridge to the Triton kernels. Until they land, `auto` never selects Triton and an explicit request says so."""

import torch


def triton_attention_supported(q: torch.Tensor) -> bool:
    return False


def triton_norm_supported(x: torch.Tensor) -> bool:
    return False


def _unavailable(*_args, **_kwargs):
    raise RuntimeError("the Triton kernels are not built into this version of sgm-kernels; use backend='sdpa'")


triton_attention = triton_group_norm = triton_layer_norm = _unavailable
