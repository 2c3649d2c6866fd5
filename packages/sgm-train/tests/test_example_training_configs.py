"""The reference's example_training configs: every `target` resolves to one of our classes, and the toy ones train
unchanged for two steps on tiny stand-in MNIST / CIFAR-10 files that the test writes where they look (`.data/`)."""

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from sgm.core.config import resolve
from sgm.train.config_check import check_parameters
from sgm.train.launch import TrainOptions, fit

EXAMPLES = (
    Path(__file__).resolve().parents[3] / ".." / "shared" / "reference" / "configs" / "configs" / "example_training"
)
CONFIGS = sorted(EXAMPLES.rglob("*.yaml")) if EXAMPLES.is_dir() else []
TOY_CONFIGS = [config for config in CONFIGS if config.parent.name == "toy"]
SKIP = pytest.mark.skipif(not CONFIGS, reason="reference configs not present (../shared/reference/configs)")
# Command-line settings that make the image logger cheap and log at step 2; the configs are used as they are.
CHEAP_IMAGES = [
    "model.params.sampler_config.params.num_steps=2",
    "lightning.callbacks.image_logger.params.max_images=2",
    "lightning.callbacks.image_logger.params.batch_frequency=2",
]
STAND_IN_SIZE = 4  # images per split


def _targets(node, path="config"):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "target" and isinstance(value, str):
                yield path, value
            else:
                yield from _targets(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _targets(value, f"{path}[{i}]")


@SKIP
@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_target_resolves_and_takes_its_params(config):
    data = OmegaConf.to_container(OmegaConf.load(config))
    targets = list(_targets(data))
    assert targets
    for path, target in targets:
        assert callable(resolve(target, key_path=path)), f"{path}: {target}"
    check_parameters(data)  # and every block's params are parameters its class takes


def _write_mnist(raw: Path, rng: np.random.Generator) -> None:
    """IDX files as on the MNIST site (gunzipped): big-endian magic, sizes, then uint8 data."""
    raw.mkdir(parents=True)
    for split in ("train", "t10k"):
        images = rng.integers(0, 256, (STAND_IN_SIZE, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, STAND_IN_SIZE, dtype=np.uint8)
        (raw / f"{split}-images-idx3-ubyte").write_bytes(
            struct.pack(">IIII", 2051, STAND_IN_SIZE, 28, 28) + images.tobytes()
        )
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, STAND_IN_SIZE) + labels.tobytes())


def _write_cifar10(folder: Path, rng: np.random.Generator) -> None:
    """Pickled batches as in cifar-10-python.tar.gz: `data` uint8 [N, 3072] (channel-major rows), `labels`."""
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, (STAND_IN_SIZE, 3072), dtype=np.uint8), "labels": [1, 2, 3, 4]}
        (folder / name).write_bytes(pickle.dumps(batch))


@SKIP
@pytest.mark.parametrize("config", TOY_CONFIGS, ids=lambda p: p.name)
def test_toy_configs_train_unchanged_on_stand_in_data(config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the configs' loaders read `.data/` under the working directory
    rng = np.random.default_rng(0)
    _write_mnist(tmp_path / ".data" / "MNIST" / "raw", rng)
    _write_cifar10(tmp_path / ".data" / "cifar-10-batches-py", rng)
    run = fit(TrainOptions(base=[config], overrides=CHEAP_IMAGES, logdir=tmp_path / "logs", max_steps=2))
    assert run.trainer.global_step == 2
    checkpoint = torch.load(run.run_dir.last_checkpoint, map_location="cpu", weights_only=True)
    assert checkpoint["global_step"] == 2 and ("model_ema.num_updates" in checkpoint["state_dict"]) == (
        "with_ema" in config.name
    )
    assert list((run.run_dir.root / "images" / "train").glob("samples_gs-000002_*.png"))
