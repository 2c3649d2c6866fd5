"""Shared fixtures: tiny versions of the shipped model configs (sgm.video.testing)."""

import pytest

from sgm.video.testing import make_tiny_config


@pytest.fixture(scope="session")
def tiny_config():
    """`tiny_config(name)`: the catalog model's shipped config made tiny (see make_tiny_config)."""
    return make_tiny_config
