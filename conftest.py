"""Root pytest setup, loaded before any test module imports triton."""

import os

import pytest
import torch

# Without a GPU, Triton kernels run under its CPU interpreter; the flag is read when a kernel is defined.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Tests run tiny models: on a CPU shared with other jobs, one thread is many times faster than two that wait
    on each other. (Subprocesses the tests start choose their own.)"""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
