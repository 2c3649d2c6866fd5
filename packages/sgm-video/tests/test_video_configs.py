"""The shipped model configs: loadable as package data, official network layouts, consistent sampling blocks."""

import json
from importlib import resources
from pathlib import Path

import pytest
import torch

from sgm.core.config import instantiate, load_config

SHARED = Path(__file__).resolve().parents[4] / "shared"  # ../shared beside the repository
LAYOUTS = SHARED / "reference" / "layouts"
CONFIGS = resources.files("sgm.video").joinpath("configs/models")
STEMS = sorted(p.name[: -len(".yaml")] for p in CONFIGS.iterdir() if p.name.endswith(".yaml"))
PREFIX = "model.diffusion_model."


def load(stem: str):
    return load_config(str(CONFIGS.joinpath(f"{stem}.yaml")))


def test_all_ten_video_models_ship_a_config():
    assert STEMS == sorted(
        ["svd", "svd_xt", "svd_xt_1_1", "svd_image_decoder", "svd_xt_image_decoder"]
        + ["sv3d_u", "sv3d_p", "sv4d", "sv4d2", "sv4d2_8views"]
    )


@pytest.mark.parametrize("stem", STEMS)
def test_config_network_has_the_official_layout(stem):
    layout_path = LAYOUTS / f"sampling-{stem}.json"
    if not layout_path.is_file():
        pytest.skip(f"{layout_path} is not available")
    config = load(stem)
    assert all(t.startswith(("sgm.", "torch.nn.")) for t in _targets(config.model))
    with torch.device("meta"):
        network = instantiate(config.model.params.network_config)
    reference = {k[len(PREFIX) :]: s for k, (s, _) in json.loads(layout_path.read_text()).items() if k.startswith(PREFIX)}
    assert {k: list(v.shape) for k, v in network.state_dict().items()} == reference


@pytest.mark.parametrize("stem", STEMS)
def test_sampling_block_matches_the_guider(stem):
    config = load(stem)
    sampling, sampler = config.sampling, config.model.params.sampler_config.params
    frames = sampling.frames_per_pass * sampling.views if "views" in sampling else sampling.num_frames
    assert sampler.guider_config.params.num_frames == frames
    # Steps and guidance scales live once, in the sampling block; the pipeline sets them on the sampler.
    assert "num_steps" not in sampler and {"steps", "cfg", "min_cfg"} <= set(sampling)
    assert not {"max_scale", "min_scale"} & set(sampler.guider_config.params)
    if "views" in sampling:
        embedders = config.model.params.conditioner_config.params.emb_models
        counts = {e.input_key: e.params.n_cond_frames for e in embedders if "n_cond_frames" in e.params}
        assert counts["cond_view"] == sampling.views
        assert counts["cond_motion"] == counts["cond_frames_without_noise"] == sampling.frames_per_pass
        assert counts["cond_frames"] == frames


def _targets(node) -> list[str]:
    found = []
    if hasattr(node, "items"):
        for key, value in node.items():
            if key == "target":
                found.append(value)
            else:
                found.extend(_targets(value))
    elif isinstance(node, (list, tuple)) or type(node).__name__ == "ListConfig":
        for value in node:
            found.extend(_targets(value))
    return found
