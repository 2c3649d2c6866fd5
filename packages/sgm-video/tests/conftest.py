"""Shared fixtures: the shared test inputs (skipped when absent), one CPU thread for tiny networks, and tiny
versions of the shipped model configs (sgm.video.testing)."""

from pathlib import Path

import pytest

from sgm.video.testing import make_tiny_config

INPUTS = Path("/work/shared/inputs")


@pytest.fixture(scope="session")
def tiny_config():
    """`tiny_config(name)`: the catalog model's shipped config made tiny (see make_tiny_config)."""
    return make_tiny_config


@pytest.fixture
def shared_input():
    """`shared_input(name)`: the path of a file in /work/shared/inputs, skipping the test if it is absent."""

    def get(name: str) -> Path:
        path = INPUTS / name
        if not path.is_file():
            pytest.skip(f"shared input {path} is not available")
        return path

    return get
