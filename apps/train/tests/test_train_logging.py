"""Metrics and image grids reach TensorBoard by default and Weights & Biases (offline) when configured; without
wandb installed, asking for it is one line saying how to install it."""

import re
import struct
import sys
from pathlib import Path

from tensorboardX.proto.event_pb2 import Event

from sgm.train.launch import TrainOptions, fit
from sgm_train_app.cli import main

TINY = Path(__file__).parent / "configs" / "tiny_cond.yaml"
WANDB_LOGGER = [
    "lightning.logger.target=lightning.pytorch.loggers.WandbLogger",
    "lightning.logger.params.project=sgm-test",
    "lightning.logger.params.offline=true",
]


def _events(path: Path) -> list[Event]:
    """The records of a TensorBoard event file (TFRecord framing: length, its CRC, payload, payload CRC)."""
    data, events, offset = path.read_bytes(), [], 0
    while offset < len(data):
        (length,) = struct.unpack_from("<Q", data, offset)
        events.append(Event.FromString(data[offset + 12 : offset + 12 + length]))
        offset += 12 + length + 4
    return events


def test_tensorboard_and_a_configured_logger_get_losses_and_image_grids(tmp_path):
    overrides = [
        "lightning.trainer.log_every_n_steps=1",
        "lightning.logger.target=pytorch_lightning.loggers.CSVLogger",  # main.py's default logger, by its old name
        "lightning.logger.params.name=testtube",
    ]
    run = fit(TrainOptions(base=[TINY], overrides=overrides, logdir=tmp_path, max_steps=2)).run_dir.root
    (event_file,) = (run / "tensorboard" / "version_0").glob("events.out.tfevents.*")
    values = [(event.step, value) for event in _events(event_file) for value in event.summary.value]
    losses = [(step, value.simple_value) for step, value in values if value.tag == "loss"]
    assert [step for step, _ in losses] == [0, 1] and all(loss > 0 for _, loss in losses)
    images = {value.tag: value.image for step, value in values if value.HasField("image") and step == 2}
    assert set(images) == {"train/inputs", "train/reconstructions", "train/samples"}
    assert (images["train/samples"].height, images["train/samples"].width) == (2 * 8 + 3 * 2, 2 * 8 + 3 * 2)
    assert (run / "metrics" / "version_0" / "metrics.csv").is_file()
    assert (run / "testtube" / "version_0" / "metrics.csv").is_file()  # a configured logger writes into the run
    assert "base_learning_rate" in (run / "metrics" / "version_0" / "hparams.yaml").read_text()


def test_progress_bar_shows_loss_and_speed(tmp_path, capsys):
    progress = [
        "lightning.callbacks.progress.target=lightning.pytorch.callbacks.TQDMProgressBar",
        "lightning.callbacks.progress.params.refresh_rate=1",
        "lightning.callbacks.image_logger.params.disabled=true",
    ]
    fit(TrainOptions(base=[TINY], overrides=progress, logdir=tmp_path, max_steps=3))
    bar = capsys.readouterr().out.splitlines()[-1]
    assert re.search(r"3/\d+ .*[0-9.]+ ?(\w+/s|s/\w+), .*loss=[0-9.]+", bar), bar  # gradio, run earlier in-process, renames "it"


def test_wandb_logger_from_the_config_runs_offline(tmp_path, monkeypatch):
    for variable in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(variable, str(tmp_path / "wandb-home"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = fit(TrainOptions(base=[TINY], overrides=WANDB_LOGGER, logdir=tmp_path / "logs", max_steps=2)).run_dir.root
    (offline_run,) = (run / "wandb").glob(f"offline-run-*-{run.name}")
    assert list(offline_run.glob("*.wandb"))  # the run's local record, synced later with `wandb sync`
    grids = {path.name.split("_")[0] for path in (offline_run / "files" / "media" / "images" / "train").glob("*.png")}
    assert grids == {"inputs", "reconstructions", "samples"}  # the image logger's grids went to W&B too


def test_missing_wandb_is_one_line_saying_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if it were not installed
    base = ["--base", str(TINY), "--logdir", str(tmp_path), "--max-steps", "1"]
    for extra in (["--wandb"], WANDB_LOGGER):
        assert main(base + extra) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert "needs the wandb package: uv pip install 'sgm-train[wandb]'" in line
    assert not list(tmp_path.iterdir())  # refused before any run directory was made
