"""Full-size video networks built on the meta device have exactly the official checkpoint layouts."""

import json
from pathlib import Path

import pytest
import torch

from sgm.core.config import instantiate, load_config

SHARED = Path(__file__).resolve().parents[4] / "shared"  # ../shared beside the repository
LAYOUTS = SHARED / "reference" / "layouts"
REFERENCE_CONFIGS = SHARED / "reference" / "configs"

SAMPLING_STEMS = [
    "svd",
    "svd_xt",
    "svd_xt_1_1",
    "svd_image_decoder",
    "svd_xt_image_decoder",
    "sv3d_u",
    "sv3d_p",
    "sv4d",
    "sv4d2",
    "sv4d2_8views",
]
PREFIX = "model.diffusion_model."


def network_layout(stem: str) -> dict[str, list[int]]:
    config_path = REFERENCE_CONFIGS / "scripts" / "sampling" / "configs" / f"{stem}.yaml"
    if not config_path.is_file():
        pytest.skip(f"reference config {config_path} is not available")
    config = load_config(config_path)
    with torch.device("meta"):
        network = instantiate(config.model.params.network_config)
    return {key: list(tensor.shape) for key, tensor in network.state_dict().items()}


def reference_layout(stem: str) -> dict[str, list[int]]:
    path = LAYOUTS / f"sampling-{stem}.json"
    if not path.is_file():
        pytest.skip(f"reference layout {path} is not available")
    layout = json.loads(path.read_text())
    return {key[len(PREFIX) :]: shape for key, (shape, _dtype) in layout.items() if key.startswith(PREFIX)}


@pytest.mark.parametrize("stem", SAMPLING_STEMS)
def test_network_keys_and_shapes_match_the_official_layout(stem):
    ours, reference = network_layout(stem), reference_layout(stem)
    assert sorted(set(ours) - set(reference)) == []
    assert sorted(set(reference) - set(ours)) == []
    assert {k: v for k, v in ours.items() if reference[k] != v} == {}
