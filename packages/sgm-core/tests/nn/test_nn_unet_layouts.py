"""The full-size UNets of the reference's inference configs have the official checkpoint keys and shapes."""

import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from sgm.core.nn.unet import UNetModel

SHARED = Path(__file__).parents[4] / "../shared/reference"
PREFIX = "model.diffusion_model."


@pytest.mark.parametrize("stem", ["sd_2_1", "sd_2_1_768", "sd_xl_base", "sd_xl_refiner"])
def test_unet_keys_and_shapes_match_the_reference_layout(stem):
    config_path = SHARED / f"configs/configs/inference/{stem}.yaml"
    layout_path = SHARED / f"layouts/{stem}.json"
    if not (config_path.is_file() and layout_path.is_file()):
        pytest.skip(f"reference config or layout for {stem} not present beside the repository")
    network = OmegaConf.load(config_path).model.params.network_config
    assert network.target == "sgm.modules.diffusionmodules.openaimodel.UNetModel"
    with torch.device("meta"):
        model = UNetModel(**OmegaConf.to_container(network.params))
    ours = {PREFIX + key: list(value.shape) for key, value in model.state_dict().items()}
    layout = json.loads(layout_path.read_text())
    reference = {key: shape for key, (shape, _dtype) in layout.items() if key.startswith(PREFIX)}
    assert sorted(set(ours) - set(reference)) == [] and sorted(set(reference) - set(ours)) == []
    assert ours == reference
