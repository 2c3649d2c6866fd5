"""The reference's `lightning:` config block as Lightning objects: trainer arguments, loggers, callbacks, strategy."""

import importlib.util
import inspect
import logging
import sys
from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch import loggers as pl_loggers
from lightning.pytorch.callbacks import ProgressBar, TQDMProgressBar
from omegaconf import DictConfig, OmegaConf

from sgm.core.config import ConfigError, instantiate, resolve
from sgm.train.run_dir import RunDir

logger = logging.getLogger(__name__)

TRAINSTEP_CHECKPOINTS = "metrics_over_trainsteps_checkpoint"
PLAIN_PROGRESS_EVERY = 20  # steps between progress lines when output is not a terminal


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def _merge(default: Mapping, override: Any) -> dict:
    return _plain(OmegaConf.merge(OmegaConf.create(dict(default)), override or {}))


def _cpu_devices(devices: Any) -> Any:
    """The reference's configs name GPUs (`devices: 0,`); on a machine without CUDA that means one CPU process."""
    if isinstance(devices, str) and devices.strip(" ,").replace(",", "").isdigit():
        logger.warning("no CUDA device: training on the CPU instead of GPU(s) %s", devices)
        return 1
    return devices


def trainer_arguments(lightning_config: Mapping, max_steps: int | None, overrides: Mapping | None = None) -> dict:
    """`lightning.trainer` plus the command line's settings, with the `strategy` block built."""
    arguments = dict(_plain(lightning_config.get("trainer")) or {})
    arguments.update(overrides or {})
    unknown = sorted(set(arguments) - set(inspect.signature(pl.Trainer).parameters))
    if unknown:
        raise ConfigError(f"lightning.trainer.{unknown[0]}: not an argument of lightning's Trainer")
    if max_steps is not None:
        arguments["max_steps"] = max_steps
    accelerator = arguments.get("accelerator", "auto")
    if accelerator in ("auto", "gpu", "cuda") and not torch.cuda.is_available():
        if accelerator != "auto":
            logger.warning("accelerator %r asked for but no CUDA device is available: using the CPU", accelerator)
        arguments["accelerator"] = "cpu"
        if "devices" in arguments:
            arguments["devices"] = _cpu_devices(arguments["devices"])
    if "strategy" in lightning_config:
        arguments["strategy"] = instantiate(lightning_config["strategy"], key_path="lightning.strategy")
    return arguments


WANDB_MISSING = (
    "Weights & Biases logging needs the wandb package: uv pip install 'sgm-train[wandb]' (or pip install wandb)"
)


def _check_wandb_installed(where: str) -> None:
    if importlib.util.find_spec("wandb") is None:
        raise ConfigError(f"{where}: {WANDB_MISSING}")


def _wandb_logger(run: RunDir, params: Mapping | None = None) -> pl_loggers.WandbLogger:
    """A W&B run named and identified by the run directory's name (so a resumed run continues it), saving under
    the run directory; `params` override those defaults."""
    defaults = {"name": run.root.name, "id": run.root.name, "save_dir": str(run.root)}
    return pl_loggers.WandbLogger(**(defaults | dict(params or {})))


def _configured_logger(block: Mapping, run: RunDir) -> Any:
    """`lightning.logger`, writing into the run directory unless its params name a `save_dir`."""
    key_path = "lightning.logger"
    if "target" not in block:
        raise ConfigError(f"{key_path}: needs a target (e.g. lightning.pytorch.loggers.WandbLogger)")
    logger_cls = resolve(block["target"], key_path=f"{key_path}.target")
    params = dict(block.get("params") or {})
    if isinstance(logger_cls, type) and issubclass(logger_cls, pl_loggers.WandbLogger):
        _check_wandb_installed(key_path)
        return _wandb_logger(run, params)
    if "save_dir" in inspect.signature(logger_cls).parameters:
        params.setdefault("save_dir", str(run.root))
    return logger_cls(**params)


def build_loggers(lightning_config: Mapping, run: RunDir, wandb: bool) -> list:
    """CSV and TensorBoard metrics under the run directory (a new `version_N` each start), plus `lightning.logger`
    when the config gives one, and W&B with `wandb` (unless that logger already is W&B)."""
    loggers: list = [
        pl_loggers.CSVLogger(save_dir=str(run.root), name="metrics"),
        pl_loggers.TensorBoardLogger(save_dir=str(run.root), name="tensorboard", default_hp_metric=False),
    ]
    block = _plain(lightning_config.get("logger"))
    if block:
        loggers.append(_configured_logger(block, run))
    if wandb and not any(isinstance(existing, pl_loggers.WandbLogger) for existing in loggers):
        _check_wandb_installed("--wandb")
        loggers.append(_wandb_logger(run))
    return loggers


def finish_loggers(loggers: list) -> None:
    """Close the W&B run once training ends, so that the next run in this process starts its own."""
    for experiment_logger in loggers:
        if isinstance(experiment_logger, pl_loggers.WandbLogger) and experiment_logger._experiment is not None:
            experiment_logger.experiment.finish()


def build_callbacks(lightning_config: Mapping, run: RunDir, monitor: str | None) -> list:
    """The checkpoint callback (`last.ckpt` plus top-k), the image logger, the learning-rate monitor and whatever
    `lightning.callbacks` adds or changes, with main.py's defaults."""
    checkpoint_params: dict[str, Any] = {
        "dirpath": str(run.checkpoints),
        "filename": "{epoch:06}-{step:09}",
        "verbose": True,
        "save_last": True,
    }
    if monitor:
        checkpoint_params |= {"monitor": monitor, "save_top_k": 3}
    checkpoint = _merge(
        {"target": "lightning.pytorch.callbacks.ModelCheckpoint", "params": checkpoint_params},
        lightning_config.get("modelcheckpoint"),
    )
    defaults: dict[str, Any] = {
        "checkpoint_callback": checkpoint,
        "image_logger": {"target": "main.ImageLogger", "params": {"batch_frequency": 1000, "max_images": 4}},
        "learning_rate_logger": {
            "target": "lightning.pytorch.callbacks.LearningRateMonitor",
            "params": {"logging_interval": "step"},
        },
    }
    configured = _plain(lightning_config.get("callbacks")) or {}
    if TRAINSTEP_CHECKPOINTS in configured:
        defaults[TRAINSTEP_CHECKPOINTS] = {
            "target": "lightning.pytorch.callbacks.ModelCheckpoint",
            "params": {
                "dirpath": str(run.checkpoints / "trainstep_checkpoints"),
                "filename": "{epoch:06}-{step:09}",
                "verbose": True,
                "save_top_k": -1,
                "every_n_train_steps": 10000,
                "save_weights_only": True,
            },
        }
    merged = _merge(defaults, configured)
    callbacks = []
    for name, block in merged.items():
        if not block or "target" not in block:
            raise ConfigError(f"lightning.callbacks.{name}: needs a target (the callback class)")
        callbacks.append(instantiate(block, key_path=f"lightning.callbacks.{name}"))
    if not sys.stderr.isatty() and not any(isinstance(c, ProgressBar) for c in callbacks):
        # Redirected output (nohup, CI): plain progress lines with loss and it/s instead of a live display.
        callbacks.append(TQDMProgressBar(refresh_rate=PLAIN_PROGRESS_EVERY))
    return callbacks
