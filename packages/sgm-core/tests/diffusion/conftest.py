"""Diffusion-math tests run many small tensor ops, which are fastest on one thread of a shared CPU."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_cpu_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
