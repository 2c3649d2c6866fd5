"""Launching the Triton attention kernels: tile sizes by sequence length, and the autograd Function."""

import functools
import math
import os

import torch
import triton

from sgm.kernels.triton_attention import (
    LOG2_E,
    _attention_bwd_dkdv_kernel,
    _attention_bwd_dq_kernel,
    _attention_fwd_kernel,
)
from sgm.kernels.triton_common import cdiv, interpreted, next_power_of_2

SHORT_SEQUENCE = 64  # up to this many tokens, a tile packs several (batch, head) pairs
AUTOTUNE_ENV = "SGM_KERNELS_AUTOTUNE"  # "0": fixed tile sizes instead of timing candidates (quicker tests)


def _sequence_block(n_q: int, n_k: int) -> int:
    return max(16, next_power_of_2(max(n_q, n_k)))


def _fixed_config(n_q: int, n_k: int, head_block: int, tile: int, long_m: int, long_n: int) -> dict:
    """One launch configuration: packed pairs for short sequences, `long_m` x `long_n` tiles otherwise."""
    seq = _sequence_block(n_q, n_k)
    if seq <= SHORT_SEQUENCE and seq < tile:
        return {"BLOCK_M": tile, "BLOCK_N": tile, "PAIRS": tile // seq, "num_warps": 4 if tile >= 128 else 2}
    return {"BLOCK_M": long_m, "BLOCK_N": long_n, "PAIRS": 1, "num_warps": 4 if head_block <= 64 else 8}


def _forward_candidates(seq: int) -> list[triton.Config]:
    """Configurations the autotuner times on a GPU, for the padded sequence length `seq` (0: long sequences)."""
    if 0 < seq <= SHORT_SEQUENCE:
        shapes = [(32, 1), (64, 2), (64, 4), (128, 4), (128, 8)]
        return [
            triton.Config({"BLOCK_M": t, "BLOCK_N": t, "PAIRS": t // seq}, num_warps=w, num_stages=2)
            for t, w in shapes
            if t >= seq
        ]
    shapes = [(128, 64, 4, 3), (128, 128, 8, 3), (128, 64, 8, 3), (64, 64, 4, 3), (128, 32, 4, 4)]
    return [triton.Config({"BLOCK_M": m, "BLOCK_N": n, "PAIRS": 1}, num_warps=w, num_stages=s) for m, n, w, s in shapes]


@functools.cache
def _tuned_forward(seq_class: int):
    return triton.autotune(_forward_candidates(seq_class), key=["n_q", "n_k", "HEAD_DIM"], warmup=5, rep=20)(
        _attention_fwd_kernel
    )


def _strides(t: torch.Tensor) -> tuple[int, int, int]:
    return t.stride(0), t.stride(1), t.stride(2)


def _launch_shape(q: torch.Tensor, k: torch.Tensor) -> dict:
    batch, heads, n_q, head_dim = q.shape
    return {
        "n_heads": heads,
        "n_pairs": batch * heads,
        "n_q": n_q,
        "n_k": k.shape[2],
        "HEAD_DIM": head_dim,
        "BLOCK_D": max(16, next_power_of_2(head_dim)),
        "PRECISION": "ieee" if q.dtype == torch.float32 else "tf32",
    }


def _grid(rows: int, n_pairs: int):
    return lambda meta: (cdiv(n_pairs, meta["PAIRS"]), cdiv(rows, meta["BLOCK_M"] // meta["PAIRS"]))


def attention_forward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns the attention output (shape and layout of `q`) and the base-2 log-sum-exp of each query row."""
    shape = _launch_shape(q, k)
    out = torch.empty_like(q)
    lse = torch.empty(shape["n_pairs"] * shape["n_q"], device=q.device, dtype=torch.float32)
    qk_scale = LOG2_E / math.sqrt(q.shape[-1])
    args = (q, k, v, out, lse, *_strides(q), *_strides(k), *_strides(v), *_strides(out))
    grid = _grid(shape["n_q"], shape["n_pairs"])
    seq = _sequence_block(shape["n_q"], shape["n_k"])
    if interpreted(_attention_fwd_kernel):
        config = _fixed_config(shape["n_q"], shape["n_k"], shape["BLOCK_D"], tile=32, long_m=16, long_n=16)
        _attention_fwd_kernel[grid](*args, **shape, qk_scale=qk_scale, **config)
    elif os.environ.get(AUTOTUNE_ENV, "1") == "0":
        config = _fixed_config(shape["n_q"], shape["n_k"], shape["BLOCK_D"], tile=64, long_m=128, long_n=64)
        _attention_fwd_kernel[grid](*args, **shape, qk_scale=qk_scale, **config)
    else:
        _tuned_forward(seq if seq <= SHORT_SEQUENCE else 0)[grid](*args, **shape, qk_scale=qk_scale)
    return out, lse


def attention_backward(q, k, v, out, lse, grad_out) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of attention with respect to q, k and v, recomputing the scores from the saved log-sum-exp."""
    shape = _launch_shape(q, k)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    delta = torch.empty_like(lse)
    sm_scale = 1.0 / math.sqrt(q.shape[-1])
    scales = {"qk_scale": sm_scale * LOG2_E, "sm_scale": sm_scale}
    if interpreted(_attention_fwd_kernel):
        config = _fixed_config(shape["n_q"], shape["n_k"], shape["BLOCK_D"], tile=32, long_m=16, long_n=16)
    else:
        config = _fixed_config(shape["n_q"], shape["n_k"], shape["BLOCK_D"], tile=64, long_m=64, long_n=64)
    _attention_bwd_dq_kernel[_grid(shape["n_q"], shape["n_pairs"])](
        q, k, v, out, grad_out, dq, lse, delta,
        *_strides(q), *_strides(k), *_strides(v), *_strides(out), *_strides(grad_out), *_strides(dq),
        **shape, **scales, **config,
    )  # fmt: skip
    keys_grid = (cdiv(shape["n_pairs"], config["PAIRS"]),
                 cdiv(shape["n_k"], config["BLOCK_N"] // config["PAIRS"]))  # fmt: skip
    _attention_bwd_dkdv_kernel[keys_grid](
        q, k, v, grad_out, dk, dv, lse, delta,
        *_strides(q), *_strides(k), *_strides(v), *_strides(grad_out), *_strides(dk), *_strides(dv),
        **shape, **scales, **config,
    )  # fmt: skip
    return dq, dk, dv


class FlashAttention(torch.autograd.Function):
    """softmax(q k^T / sqrt(d)) v with a memory-light backward (Dao et al. 2022)."""

    @staticmethod
    def forward(ctx, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        out, lse = attention_forward(q, k, v)
        ctx.save_for_backward(q, k, v, out, lse)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        q, k, v, out, lse = ctx.saved_tensors
        if grad_out.stride(-1) != 1:
            grad_out = grad_out.contiguous()
        return attention_backward(q, k, v, out, lse, grad_out)
