"""One torch thread per test: on a CPU shared with other jobs, two threads that wait on each other run many times
slower than one."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
