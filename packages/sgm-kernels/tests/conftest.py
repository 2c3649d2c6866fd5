"""Kernel tests run the Triton kernels through its CPU interpreter when there is no GPU.

TRITON_INTERPRET is read when a kernel is defined, so it is set here, before any test imports triton.
"""

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture(autouse=True)
def _no_backend_env(monkeypatch):
    """Each test picks its backend itself; on a GPU, fixed tile sizes spare the autotuner's compiles."""
    monkeypatch.delenv("SGM_ATTENTION_BACKEND", raising=False)
    monkeypatch.setenv("SGM_KERNELS_AUTOTUNE", "0")
