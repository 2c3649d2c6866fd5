"""Shared fixtures: the shared test inputs (skipped when absent) and one CPU thread for tiny networks."""

from pathlib import Path

import pytest

INPUTS = Path("/work/shared/inputs")


@pytest.fixture
def shared_input():
    """`shared_input(name)`: the path of a file in /work/shared/inputs, skipping the test if it is absent."""

    def get(name: str) -> Path:
        path = INPUTS / name
        if not path.is_file():
            pytest.skip(f"shared input {path} is not available")
        return path

    return get


@pytest.fixture(autouse=True)
def _one_cpu_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
