"""Root pytest setup, loaded before any test module imports triton."""

import os

import torch

# Without a GPU, Triton kernels run under its CPU interpreter; the flag is read when a kernel is defined.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
