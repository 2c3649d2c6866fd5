from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """`../shared` beside the repository (reference configs and layouts); absent on users' machines."""
    if not SHARED.is_dir():
        pytest.skip("../shared (reference configs and layouts) is not present")
    return SHARED
