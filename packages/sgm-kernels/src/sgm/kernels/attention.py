"""Scaled dot-product attention, softmax(q k^T / sqrt(d)) v (Vaswani et al. 2017), with several implementations."""

import math

import torch
import torch.nn.functional as F

from sgm.kernels.backend import check_backend, default_backend, launches_are_free, xformers_available


def attention_math(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The textbook formula, softmax in at least fp32: the ground truth the other backends are tested against."""
    compute_dtype = torch.promote_types(q.dtype, torch.float32)
    scores = torch.matmul(q.to(compute_dtype), k.to(compute_dtype).transpose(-1, -2)) / math.sqrt(q.shape[-1])
    return torch.matmul(scores.softmax(dim=-1), v.to(compute_dtype)).to(q.dtype)


def attention_sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return F.scaled_dot_product_attention(q, k, v)


def attention_xformers(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    import xformers.ops  # optional extra, detected at run time

    # xformers wants [batch, tokens, heads, dim]
    out = xformers.ops.memory_efficient_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    return out.transpose(1, 2)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, backend: str = "auto") -> torch.Tensor:
    """Non-causal attention over `[batch, heads, tokens, head_dim]` tensors; returns the shape of `q`."""
    name = check_backend(backend)
    if name == "auto":
        name = default_backend()
    if name == "auto":
        name = _auto_attention_backend(q, k, v)
    if name == "xformers" and not (xformers_available() and q.is_cuda):
        name = "sdpa"  # the reference's "softmax-xformers" means "the efficient kernel"; elsewhere use torch's
    if name == "math":
        return attention_math(q, k, v)
    if name == "xformers":
        return attention_xformers(q, k, v)
    if name == "triton":
        from sgm.kernels.triton_dispatch import triton_attention

        return triton_attention(q, k, v)
    return attention_sdpa(q, k, v)


def _auto_attention_backend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> str:
    """Triton where its launches are free and it takes the inputs (graphs, compiled code); torch's SDPA (cuDNN or
    flash) in eager calls, where the host time of Triton's launches makes it the slower one."""
    from sgm.kernels.triton_dispatch import triton_attention_supported

    return "triton" if launches_are_free() and triton_attention_supported(q, k, v) else "sdpa"
