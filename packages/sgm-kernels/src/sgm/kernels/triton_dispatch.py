"""Which inputs the Triton kernels take, and the entry points `sgm.kernels` calls for `backend="triton"`.

`*_supported` decide `auto` (never fails: anything unsupported goes to torch); the `triton_*` functions are the
explicit request, and say in one line what is wrong with inputs they cannot run.
"""

import functools

import torch

from sgm.kernels.backend import triton_available

TRITON_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
MAX_HEAD_DIM = 128


@functools.cache
def _capability_ok(device: torch.device) -> bool:
    return torch.cuda.get_device_capability(device) >= (8, 0)


def _cuda_ok(t: torch.Tensor) -> bool:
    return t.is_cuda and _capability_ok(t.device)


def _interpreter_on() -> bool:
    from sgm.kernels.triton_common import interpreted
    from sgm.kernels.triton_norms import _layer_norm_fwd_kernel

    return interpreted(_layer_norm_fwd_kernel)


def _attention_problem(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> str | None:
    """Why the Triton attention cannot take these tensors (None when it can), device aside."""
    if not triton_available():
        return "triton is not installed"
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        return "q, k and v must be [batch, heads, tokens, head_dim]"
    if q.shape[:2] != k.shape[:2] or k.shape[:3] != v.shape[:3]:
        return f"q {tuple(q.shape)}, k {tuple(k.shape)} and v {tuple(v.shape)} disagree in batch, heads or tokens"
    if not q.shape[-1] == k.shape[-1] == v.shape[-1] or q.shape[-1] > MAX_HEAD_DIM:
        return f"head dims must be equal and at most {MAX_HEAD_DIM} (got {q.shape[-1]}, {k.shape[-1]}, {v.shape[-1]})"
    if not q.dtype == k.dtype == v.dtype or q.dtype not in TRITON_DTYPES:
        return f"dtypes must be one of fp16, bf16, fp32 and equal (got {q.dtype}, {k.dtype}, {v.dtype})"
    if min(q.shape[2], k.shape[2]) == 0:
        return "empty sequence"
    return None


def _norm_problem(x: torch.Tensor) -> str | None:
    if not triton_available():
        return "triton is not installed"
    if x.dtype not in TRITON_DTYPES:
        return f"dtype must be fp16, bf16 or fp32 (got {x.dtype})"
    if x.numel() == 0:
        return "empty input"
    return None


def _check_device(*tensors: torch.Tensor) -> None:
    if all(_cuda_ok(t) for t in tensors):
        return
    if all(not t.is_cuda for t in tensors) and _interpreter_on():
        return
    raise ValueError(
        "backend='triton' needs tensors on one CUDA device of compute capability 8.0+ (on CPU, set TRITON_INTERPRET=1 "
        "before importing triton); use backend='sdpa' or 'auto' instead"
    )


def triton_attention_supported(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> bool:
    return all(_cuda_ok(t) for t in (q, k, v)) and _attention_problem(q, k, v) is None


def triton_norm_supported(x: torch.Tensor) -> bool:
    return _cuda_ok(x) and _norm_problem(x) is None


def triton_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    problem = _attention_problem(q, k, v)
    if problem is not None:
        raise ValueError(f"backend='triton' cannot run this attention: {problem}; use backend='auto' or 'sdpa'")
    _check_device(q, k, v)
    from sgm.kernels.flash_attention import FlashAttention

    q, k, v = (t if t.stride(-1) == 1 else t.contiguous() for t in (q, k, v))
    return FlashAttention.apply(q, k, v)


def _check_norm(x: torch.Tensor, weight: torch.Tensor | None, channels: int) -> None:
    problem = _norm_problem(x)
    if problem is None and weight is not None and weight.numel() != channels:
        problem = f"weight has {weight.numel()} entries for {channels} channels"
    if problem is not None:
        raise ValueError(f"backend='triton' cannot run this norm: {problem}; use backend='auto' or 'sdpa'")
    _check_device(x)


def triton_group_norm(x, num_groups, weight, bias, eps, activation):
    if x.dim() < 2 or x.shape[1] % num_groups != 0:
        raise ValueError(f"group_norm needs [batch, channels, ...] with channels divisible by {num_groups} groups")
    _check_norm(x, weight, x.shape[1])
    from sgm.kernels.fused_norms import FusedGroupNorm

    return FusedGroupNorm.apply(x, num_groups, weight, bias, eps, activation)


def triton_layer_norm(x, weight, bias, eps):
    _check_norm(x, weight, x.shape[-1])
    from sgm.kernels.fused_norms import FusedLayerNorm

    return FusedLayerNorm.apply(x, weight, bias, eps)
