"""The shipped digits model draws the digit it is asked for: 10 CFG samples of each class, classified by a
logistic regression fitted here on the same (16x16, pooled back to 8x8) digits."""

from importlib.resources import files
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from sklearn.linear_model import LogisticRegression

from sgm.core.config import instantiate, load_config

DigitsDataset = pytest.importorskip("sgm.train.data.toy", reason="the digits data come with sgm-train").DigitsDataset
MODELS = Path(str(files("sgm.pipelines") / "configs" / "models"))
SAMPLES_PER_CLASS = 10
SAMPLER = {
    "target": "sgm.modules.diffusionmodules.sampling.EulerEDMSampler",
    "params": {
        "num_steps": 20,
        "discretization_config": {"target": "sgm.modules.diffusionmodules.discretizer.EDMDiscretization"},
        "guider_config": {"target": "sgm.modules.diffusionmodules.guiders.VanillaCFG", "params": {"scale": 3.0}},
    },
}


def _features(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] 16x16 images as 8x8 intensities in [0, 1], one row each."""
    return F.avg_pool2d((images.clamp(-1, 1) + 1) / 2, 2).flatten(1)


def test_cfg_samples_are_classified_as_their_digit():
    engine = instantiate(load_config(MODELS / "digits.yaml").model)
    engine.load_state_dict(load_file(MODELS / "digits.safetensors"), strict=True)
    engine.sampler = instantiate(SAMPLER)
    engine.eval()

    digits = DigitsDataset(size=16)
    classifier = LogisticRegression(max_iter=3000).fit(_features(digits.images).numpy(), digits.labels.numpy())

    torch.manual_seed(0)
    labels = torch.arange(10).repeat_interleave(SAMPLES_PER_CLASS)
    c, uc = engine.conditioner.get_unconditional_conditioning({"cls": labels}, force_uc_zero_embeddings=["cls"])
    samples = engine.sample(c, uc=uc, batch_size=len(labels), shape=(1, 16, 16))
    predicted = torch.from_numpy(classifier.predict(_features(samples).numpy()))
    accuracy = (predicted == labels).float().mean().item()
    assert accuracy >= 0.9, f"only {accuracy:.0%} of samples classified as their conditioned digit"


def test_the_digits_are_written_enlarged_with_a_grid(tmp_path, monkeypatch):
    """16x16 is too small to see: each image is written at 256x256, nearest-neighbour (every pixel a 16x16 block),
    its native size in the PNG text, and `num` images also as one grid picture."""
    import numpy as np
    from PIL import Image

    from sgm.pipelines import Request, run

    paths = run(Request(model="digits", num=3, steps=2, seed=1, output=tmp_path, device="cpu"))
    grids = [path for path in paths if path.name.startswith("grid-")]
    singles = [path for path in paths if path not in grids]
    assert len(singles) == 3 and len(grids) == 1
    for path in singles:
        with Image.open(path) as image:
            assert image.size == (256, 256) and image.text["native_size"] == "16x16"
            blocks = np.asarray(image).reshape(16, 16, 16, 16).swapaxes(1, 2)
            assert (blocks == blocks[:, :, :1, :1]).all()  # nearest-neighbour: flat 16x16 blocks
    with Image.open(grids[0]) as grid, Image.open(singles[2]) as third:
        assert grid.size == (512, 512) and grid.text["count"] == "3"
        assert np.array_equal(np.asarray(grid)[256:, :256], np.asarray(third))
