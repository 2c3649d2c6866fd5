"""Fused Triton GroupNorm (+ SiLU) and LayerNorm against the torch implementation in fp64: values and gradients."""

import pytest
import torch

from sgm.kernels import group_norm, layer_norm
from sgm.kernels.norms import group_norm_torch, layer_norm_torch

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
DTYPES = [torch.float32, torch.float16] + ([torch.bfloat16] if torch.cuda.is_available() else [])
TOLERANCE = {torch.float32: 1e-5, torch.float16: 3e-3, torch.bfloat16: 2e-2}


def _leaf(shape, dtype, gen, offset=0.0):
    return (torch.randn(shape, generator=gen) * 2 + offset).to(DEVICE, dtype).requires_grad_()


def _compare(fn, ref_fn, tensors, dtype):
    out = fn(*tensors)
    grad_out = torch.randn_like(out)
    live = [t for t in tensors if t is not None]
    grads = torch.autograd.grad(out, live, grad_out)
    live64 = [t.detach().double().requires_grad_() for t in live]
    it = iter(live64)
    ref = ref_fn(*[None if t is None else next(it) for t in tensors])
    ref_grads = torch.autograd.grad(ref, live64, grad_out.double())
    tol = TOLERANCE[dtype]
    assert out.dtype == dtype and out.shape == tensors[0].shape
    torch.testing.assert_close(out.double(), ref, atol=tol * 4, rtol=tol)
    for grad, ref_grad in zip(grads, ref_grads):
        assert grad.dtype == dtype
        scale = ref_grad.abs().max().item() + 1.0
        torch.testing.assert_close(grad.double(), ref_grad, atol=tol * scale, rtol=tol)


# NCHW and the 5-D video layout [B, C, T, H, W]; groups larger than one chunk and spatial sizes past one block
@pytest.mark.parametrize("shape,groups", [((2, 8, 5, 7), 4), ((1, 6, 3, 5, 9), 3), ((2, 4, 11, 13), 2)], ids=str)
@pytest.mark.parametrize("activation", [None, "silu"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_group_norm_matches_torch(shape, groups, activation, dtype):
    gen = torch.Generator().manual_seed(0)
    tensors = [_leaf(shape, dtype, gen, offset=3.0), _leaf(shape[1], dtype, gen), _leaf(shape[1], dtype, gen)]
    _compare(
        lambda x, w, b: group_norm(x, groups, w, b, 1e-5, activation, backend="triton"),
        lambda x, w, b: group_norm_torch(x, groups, w, b, 1e-5, activation),
        tensors,
        dtype,
    )


def test_group_norm_without_affine_has_zero_mean_unit_variance():
    x = torch.randn(2, 6, 4, 5, generator=torch.Generator().manual_seed(1)).to(DEVICE) * 5 + 7
    y = group_norm(x, 3, None, None, 0.0, backend="triton").view(2, 3, -1).double()
    torch.testing.assert_close(y.mean(-1), torch.zeros(2, 3, dtype=torch.float64, device=DEVICE), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(-1, unbiased=False), torch.ones_like(y[..., 0]), atol=1e-4, rtol=0)


@pytest.mark.parametrize("shape", [(3, 5, 40), (7, 33)], ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_layer_norm_matches_torch(shape, dtype):
    gen = torch.Generator().manual_seed(2)
    tensors = [_leaf(shape, dtype, gen, offset=-2.0), _leaf(shape[-1], dtype, gen), _leaf(shape[-1], dtype, gen)]
    _compare(
        lambda x, w, b: layer_norm(x, w, b, 1e-5, backend="triton"),
        lambda x, w, b: layer_norm_torch(x, w, b, 1e-5),
        tensors,
        dtype,
    )


def test_layer_norm_without_affine():
    gen = torch.Generator().manual_seed(3)
    _compare(
        lambda x, w, b: layer_norm(x, w, b, 1e-6, backend="triton"),
        lambda x, w, b: layer_norm_torch(x, w, b, 1e-6),
        [_leaf((4, 24), torch.float32, gen), None, None],
        torch.float32,
    )
