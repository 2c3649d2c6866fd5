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
