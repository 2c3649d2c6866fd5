"""The catalog's image models as tiny random-weight versions of their configs (real text encoders, autoencoder and
UNet; sgm.pipelines.testing), their checkpoints in ./checkpoints under the official file names."""

from pathlib import Path
from types import MappingProxyType

import pytest

from sgm.pipelines import catalog
from sgm.pipelines.testing import install_tiny_model

MODELS = ("sd-2.1", "sdxl-base", "sdxl-refiner", "sdxl-turbo")


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> tuple[Path, dict]:
    """The tiny models' checkpoint folder and catalog entries, made once for the module."""
    folder = tmp_path_factory.mktemp("tiny-image-models")
    entries = {name: install_tiny_model(name, folder / "checkpoints", folder / "configs") for name in MODELS}
    return folder / "checkpoints", entries


@pytest.fixture
def workdir(tmp_path, monkeypatch, tiny_models):
    """A fresh working directory whose ./checkpoints holds the tiny models, and the catalog pointing at them."""
    checkpoints, entries = tiny_models
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(catalog.CHECKPOINT_DIR_ENV, raising=False)
    (tmp_path / "checkpoints").symlink_to(checkpoints, target_is_directory=True)
    monkeypatch.setattr(catalog, "CATALOG", MappingProxyType(dict(catalog.CATALOG) | entries))
    return tmp_path
