"""Root pytest setup, loaded before any test module imports triton."""

import os
from pathlib import Path

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


# `../shared` beside the repository: the reference's configs and layouts and real test inputs; absent on users'
# machines, where the tests that need it skip.
SHARED = Path(__file__).resolve().parent.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared (reference configs, layouts and inputs) is not present")
    return SHARED


@pytest.fixture
def shared_input():
    """`shared_input(name)`: the path of a file in ../shared/inputs, skipping the test if it is absent."""

    def get(name: str) -> Path:
        path = SHARED / "inputs" / name
        if not path.is_file():
            pytest.skip(f"shared input {path} is not available")
        return path

    return get


@pytest.fixture(scope="session")
def shared_layouts(shared_dir) -> Path:
    """The official checkpoints' layouts, `<layout>.json`."""
    return shared_dir / "reference" / "layouts"
