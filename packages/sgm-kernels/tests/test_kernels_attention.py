"""Triton FlashAttention against the fp64 textbook formula: outputs and gradients, odd lengths and head dims."""

import pytest
import torch

from sgm.kernels import attention
from sgm.kernels.attention import attention_math

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
TOLERANCE = {torch.float32: 2e-3 if DEVICE == "cuda" else 1e-5, torch.float16: 4e-3, torch.bfloat16: 3e-2}

# (batch, heads, query tokens, key tokens, head dim): text cross-attention (77 keys), temporal attention with
# 14 / 21 / 25 frames over many (batch, head) pairs, a length that is no multiple of any block, padded head dims
SHAPES = [
    (1, 2, 20, 77, 40),
    (5, 3, 14, 14, 64),
    (3, 1, 21, 21, 32),
    (2, 2, 25, 25, 80),
    (1, 1, 70, 37, 96),
    (1, 1, 19, 19, 128),
]


def _qkv(shape, dtype, seed=0):
    batch, heads, n_q, n_k, dim = shape
    gen = torch.Generator().manual_seed(seed)
    sizes = [(batch, heads, n_q, dim), (batch, heads, n_k, dim), (batch, heads, n_k, dim)]
    return [torch.randn(s, generator=gen).to(DEVICE, dtype).requires_grad_() for s in sizes]


def _check_against_math(q, k, v, tol):
    out = attention(q, k, v, backend="triton")
    grad_out = torch.randn_like(out)
    grads = torch.autograd.grad(out, (q, k, v), grad_out)
    q64, k64, v64 = (t.detach().double().requires_grad_() for t in (q, k, v))
    ref = attention_math(q64, k64, v64)
    ref_grads = torch.autograd.grad(ref, (q64, k64, v64), grad_out.double())
    assert out.shape == q.shape and out.dtype == q.dtype
    torch.testing.assert_close(out.double(), ref, atol=tol, rtol=tol)
    for name, grad, ref_grad in zip("qkv", grads, ref_grads):
        scale = ref_grad.abs().max().item() + 1.0
        torch.testing.assert_close(grad.double(), ref_grad, atol=tol * scale, rtol=tol, msg=f"d{name}")


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_attention_matches_math_fp32(shape):
    _check_against_math(*_qkv(shape, torch.float32), TOLERANCE[torch.float32])


@pytest.mark.parametrize("shape", SHAPES[:4], ids=lambda s: "x".join(map(str, s)))
def test_attention_matches_math_fp16(shape):
    _check_against_math(*_qkv(shape, torch.float16), TOLERANCE[torch.float16])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="bf16 tl.dot is wrong in the Triton interpreter")
@pytest.mark.parametrize("shape", SHAPES + [(2, 10, 1024, 77, 64), (2, 5, 4096, 4096, 64)], ids=str)
def test_attention_matches_math_bf16(shape):
    _check_against_math(*_qkv(shape, torch.bfloat16), TOLERANCE[torch.bfloat16])


def test_attention_takes_strided_head_views():
    """Heads split from a [batch, tokens, heads * dim] projection (the layout attention blocks produce)."""
    batch, tokens, heads, dim = 2, 18, 3, 32
    gen = torch.Generator().manual_seed(1)
    qkv = [torch.randn(batch, tokens, heads * dim, generator=gen).to(DEVICE) for _ in range(3)]
    q, k, v = (t.unflatten(-1, (heads, dim)).transpose(1, 2) for t in qkv)
    assert not q.is_contiguous()
    out = attention(q, k, v, backend="triton")
    torch.testing.assert_close(out, attention_math(q, k, v), atol=TOLERANCE[torch.float32], rtol=1e-3)


def test_attention_rows_are_convex_combinations_of_values():
    """With identical keys the softmax is uniform, so every output row is the mean of the values."""
    q, _, v = _qkv((1, 2, 9, 23, 16), torch.float32, seed=3)
    k = torch.ones(1, 2, 23, 16, device=DEVICE)
    out = attention(q.detach(), k, v.detach(), backend="triton")
    torch.testing.assert_close(out, v.detach().mean(2, keepdim=True).expand_as(out), atol=1e-4, rtol=1e-4)
