"""Kernel tests run the Triton kernels through its CPU interpreter when there is no GPU.

TRITON_INTERPRET is read when a kernel is defined, so it is set here, before any test imports triton.
"""

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="bf16 tl.dot is only exact on a GPU")


@pytest.fixture
def device() -> str:
    return DEVICE


@pytest.fixture(autouse=True)
def _no_backend_env(monkeypatch):
    """Each test picks its backend itself."""
    monkeypatch.delenv("SGM_ATTENTION_BACKEND", raising=False)
