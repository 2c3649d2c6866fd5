"""Which implementation `attention`, `group_norm` and `layer_norm` run, and the errors for bad requests."""

import importlib

import pytest
import torch

from sgm.kernels import (
    attention,
    available_backends,
    graph_launches,
    group_norm,
    layer_norm,
    triton_dispatch,
    use_backend,
)
from sgm.kernels.attention import attention_math

CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"
attention_module = importlib.import_module("sgm.kernels.attention")  # the package attribute is the function


def _qkv(*shape, dtype=torch.float32, device="cpu"):
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(*shape, generator=gen).to(device, dtype) for _ in range(3)]


@pytest.fixture
def calls(monkeypatch):
    """Record which attention implementation runs, by name."""
    seen = []

    def spy(name, fn):
        def wrapped(*args, **kwargs):
            seen.append(name)
            return fn(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(attention_module, "attention_sdpa", spy("sdpa", attention_module.attention_sdpa))
    monkeypatch.setattr(attention_module, "attention_math", spy("math", attention_module.attention_math))
    monkeypatch.setattr(triton_dispatch, "triton_attention", spy("triton", triton_dispatch.triton_attention))
    return seen


@pytest.mark.skipif(CUDA, reason="checks the CPU choice")
def test_auto_on_cpu_uses_torch(calls):
    q, k, v = _qkv(1, 2, 5, 8)
    torch.testing.assert_close(attention(q, k, v), attention_math(q, k, v), atol=1e-5, rtol=1e-5)
    assert calls == ["sdpa"]
    assert not triton_dispatch.triton_norm_supported(q)


@pytest.mark.skipif(not CUDA, reason="checks the GPU choice")
def test_auto_on_cuda_uses_sdpa_eagerly_and_triton_in_graphs(calls):
    q, k, v = _qkv(1, 2, 5, 16, dtype=torch.float16, device="cuda")
    torch.testing.assert_close(attention(q, k, v), attention_math(q, k, v), atol=2e-3, rtol=2e-3)
    with graph_launches():
        torch.testing.assert_close(attention(q, k, v), attention_math(q, k, v), atol=2e-3, rtol=2e-3)
    assert calls == ["sdpa", "triton"]
    assert triton_dispatch.triton_norm_supported(q)


def test_auto_picks_triton_only_where_launches_are_free(calls, monkeypatch):
    """Triton's launches cost host time per call: `auto` takes SDPA in eager calls even where Triton could run, and
    Triton inside a CUDA graph's recording (or torch.compile's tracing)."""
    monkeypatch.setattr(triton_dispatch, "triton_attention_supported", lambda q, k, v: True)
    monkeypatch.setattr(triton_dispatch, "triton_attention", lambda q, k, v: calls.append("triton") or q)
    q, k, v = _qkv(1, 2, 5, 8)  # CPU tensors: the stubs stand in for a CUDA device's kernel
    attention(q, k, v)
    with graph_launches():
        attention(q, k, v)
    attention(q, k, v)
    assert calls == ["sdpa", "triton", "sdpa"]


def test_explicit_triton_runs_the_kernel(calls):
    """On CPU this is the interpreter (the conftest sets TRITON_INTERPRET=1 there)."""
    q, k, v = _qkv(1, 2, 5, 8, device=DEVICE)
    out = attention(q, k, v, backend="triton")
    assert calls == ["triton"]
    torch.testing.assert_close(out, attention_math(q, k, v), atol=1e-4, rtol=1e-4)


@pytest.mark.skipif(not CUDA, reason="on a CPU-only machine the interpreter runs CPU tensors")
def test_explicit_triton_rejects_cpu_tensors_on_a_gpu_machine():
    q, k, v = _qkv(1, 1, 4, 8)
    with pytest.raises(ValueError, match="TRITON_INTERPRET=1"):
        attention(q, k, v, backend="triton")


@pytest.mark.parametrize("dtype,dim", [(torch.float64, 16), (torch.float32, 160)])
def test_auto_falls_back_for_unsupported_inputs(calls, dtype, dim):
    device = "cuda" if CUDA else "cpu"
    q, k, v = _qkv(1, 1, 4, dim, dtype=dtype, device=device)
    out = attention(q, k, v)
    assert calls == ["sdpa"] and out.dtype == dtype
    x = torch.randn(1, 4, 3, 3, dtype=dtype, device=device)
    assert group_norm(x, 2, None, None, 1e-5, backend="auto").dtype == dtype


@pytest.mark.parametrize("dtype,dim", [(torch.float64, 16), (torch.float32, 160)])
def test_explicit_triton_rejects_unsupported_inputs(dtype, dim):
    q, k, v = _qkv(1, 1, 4, dim, dtype=dtype)
    with pytest.raises(ValueError, match="backend='triton' cannot run"):
        attention(q, k, v, backend="triton")


def test_env_var_and_use_backend_choose_for_auto(calls, monkeypatch):
    q, k, v = _qkv(1, 1, 4, 8, device=DEVICE)
    monkeypatch.setenv("SGM_ATTENTION_BACKEND", "math")
    attention(q, k, v)
    monkeypatch.setenv("SGM_ATTENTION_BACKEND", "triton")
    attention(q, k, v)
    with use_backend("sdpa"):
        attention(q, k, v)
    assert calls == ["math", "triton", "sdpa"]


def test_env_var_triton_runs_the_norm_kernels(monkeypatch):
    called = []
    monkeypatch.setattr(triton_dispatch, "triton_layer_norm", lambda *a: called.append("layer") or a[0])
    monkeypatch.setattr(triton_dispatch, "triton_group_norm", lambda *a: called.append("group") or a[0])
    monkeypatch.setenv("SGM_ATTENTION_BACKEND", "triton")
    layer_norm(torch.randn(2, 4), None, None)
    group_norm(torch.randn(1, 4, 2, 2), 2, activation="silu")
    assert called == ["layer", "group"]


def test_unknown_backend_is_a_clear_error(monkeypatch):
    q, k, v = _qkv(1, 1, 4, 8)
    with pytest.raises(ValueError, match="unknown backend 'flash3'"):
        attention(q, k, v, backend="flash3")
    with pytest.raises(ValueError, match="unknown backend"), use_backend("cuda"):
        pass
    monkeypatch.setenv("SGM_ATTENTION_BACKEND", "nope")
    with pytest.raises(ValueError, match="unknown backend 'nope'"):
        layer_norm(torch.randn(2, 4), None, None)


def test_xformers_absent_falls_back_to_sdpa(calls, monkeypatch):
    monkeypatch.setattr(attention_module, "xformers_available", lambda: False)
    q, k, v = _qkv(1, 1, 4, 8)
    attention(q, k, v, backend="xformers")
    assert calls == ["sdpa"]


def test_available_backends_lists_triton_and_torch():
    names = available_backends()
    assert {"triton", "sdpa", "math"} <= set(names)


def test_bad_norm_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="divisible by 3 groups"):
        group_norm(torch.randn(1, 4, 2, 2), 3, backend="triton")
    with pytest.raises(ValueError, match="unknown activation"):
        group_norm(torch.randn(1, 4, 2, 2), 2, activation="gelu")


def test_use_backend_holds_in_its_own_thread_only():
    """A server runs requests on worker threads: one run's backend must not leak into another's."""
    import threading

    from sgm.kernels.backend import default_backend

    inside, started, release = [], threading.Event(), threading.Event()

    def worker():
        with use_backend("math"):
            inside.append(default_backend())
            started.set()
            release.wait(10)

    thread = threading.Thread(target=worker)
    thread.start()
    assert started.wait(10)
    outside = default_backend()
    release.set()
    thread.join()
    assert inside == ["math"] and outside != "math"
