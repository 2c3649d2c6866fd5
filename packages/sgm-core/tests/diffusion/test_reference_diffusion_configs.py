"""Every denoiser, sampler and loss block in the reference's YAML configs builds with our classes, unchanged."""

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from sgm.core.config import instantiate, load_config
from sgm.core.diffusion.samplers import BaseDiffusionSampler

CONFIG_ROOT = Path(__file__).resolve().parents[4].parent / "shared" / "reference" / "configs"
BLOCK_KEYS = ("denoiser_config", "sampler_config", "loss_fn_config")

pytestmark = pytest.mark.skipif(not CONFIG_ROOT.is_dir(), reason="../shared/reference/configs is not present")


def _diffusion_blocks():
    if not CONFIG_ROOT.is_dir():
        return []
    blocks = []
    for path in sorted(CONFIG_ROOT.rglob("*.yaml")):
        params = OmegaConf.to_container(load_config(path), resolve=True).get("model", {}).get("params", {})
        for key in BLOCK_KEYS:
            if isinstance(params.get(key), dict):
                blocks.append(pytest.param(params[key], id=f"{path.relative_to(CONFIG_ROOT)}:{key}"))
    return blocks


def _with_num_frames(block: dict) -> dict:
    """The reference's video scripts set the prediction guiders' `num_frames` before building; do the same."""
    guider = block.get("params", {}).get("guider_config")
    if guider and guider["target"].endswith("PredictionGuider"):
        guider.setdefault("params", {}).setdefault("num_frames", 4)
    return block


@pytest.mark.parametrize("block", _diffusion_blocks())
def test_reference_diffusion_block_builds(block):
    block = _with_num_frames(block)
    built = instantiate(block)
    if isinstance(built, BaseDiffusionSampler):  # its schedule must produce sigmas
        sigmas = built.discretization(built.num_steps or 4, device="cpu")
        assert sigmas[-1] == 0 and torch.all(sigmas[:-1] > 0)
