"""Full-size conditioners built (on the meta device) from the reference's YAMLs have the official checkpoint layouts."""

import json
from pathlib import Path

import pytest
import torch
from sgm.core.config import instantiate, load_config

REFERENCE = Path(__file__).resolve().parents[4] / "shared" / "reference"  # ../shared next to the repository
pytestmark = pytest.mark.skipif(not REFERENCE.is_dir(), reason="the reference configs and layouts are not available")


def _official(name: str, prefix: str) -> dict[str, list]:
    layout = json.loads((REFERENCE / "layouts" / f"{name}.json").read_text())
    return {key[len(prefix) :]: value for key, value in layout.items() if key.startswith(prefix)}


def _built(block) -> dict[str, list]:
    with torch.device("meta"):
        model = instantiate(block)
    return {key: [list(t.shape), str(t.dtype).removeprefix("torch.")] for key, t in model.state_dict().items()}


def _emb_models(name: str):
    config = load_config(REFERENCE / "configs" / "configs" / "inference" / f"{name}.yaml")
    return config.model.params.conditioner_config


@pytest.mark.parametrize("name", ["sd_xl_base", "sd_xl_refiner", "sd_2_1"])
def test_text_conditioner_layout(name):
    expected = _official(name, "conditioner.")
    assert expected, f"no conditioner keys in {name}.json"
    assert _built(_emb_models(name)) == expected


def test_svd_image_embedder_layout():
    embedders = _emb_models("svd").params.emb_models
    (index,) = [i for i, e in enumerate(embedders) if "open_clip_embedding_config" in e.get("params", {})]
    assert _built(embedders[index]) == _official("svd", f"conditioner.embedders.{index}.")


def test_svd_conditioner_layout_with_its_vae():
    pytest.importorskip("sgm.autoencoders")
    assert _built(_emb_models("svd")) == _official("svd", "conditioner.")
