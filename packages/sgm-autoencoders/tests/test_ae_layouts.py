"""Full-size first stages built from the reference's inference configs have the official checkpoint layouts."""

import json
from pathlib import Path

import pytest
import torch

from sgm.core.config import instantiate, load_config

REFERENCE = Path(__file__).resolve().parents[4] / "shared" / "reference"  # ../shared next to the repository
pytestmark = pytest.mark.skipif(not REFERENCE.is_dir(), reason="the reference configs and layouts are not available")


def _layout(name: str, prefix: str) -> dict[str, list[int]]:
    layout = json.loads((REFERENCE / "layouts" / f"{name}.json").read_text())
    return {key[len(prefix) :]: shape for key, (shape, _dtype) in layout.items() if key.startswith(prefix)}


def _built_layout(block) -> dict[str, list[int]]:
    with torch.device("meta"):
        model = instantiate(block)
    return {key: list(value.shape) for key, value in model.state_dict().items()}


@pytest.mark.parametrize("name", ["sd_xl_base", "svd", "sv3d_u"])
def test_first_stage_layout(name):
    config = load_config(REFERENCE / "configs" / "configs" / "inference" / f"{name}.yaml")
    expected = _layout(name, "first_stage_model.")
    assert expected, f"no first_stage_model keys in {name}.json"
    assert _built_layout(config.model.params.first_stage_config) == expected


def test_svd_conditioning_encoder_layout():
    config = load_config(REFERENCE / "configs" / "configs" / "inference" / "svd.yaml")
    embedders = config.model.params.conditioner_config.params.emb_models
    (index,) = [i for i, embedder in enumerate(embedders) if "encoder_config" in embedder.get("params", {})]
    expected = _layout("svd", f"conditioner.embedders.{index}.encoder.")
    assert _built_layout(embedders[index].params.encoder_config) == expected
