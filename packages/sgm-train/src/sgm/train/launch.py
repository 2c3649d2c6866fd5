"""From merged YAML configs to a finished (or resumed) Lightning run: what `uv run apps/train` does.

The config has the reference's shape: `model` ({target, params} plus `base_learning_rate`), `data` (a data module
block) and `lightning` (`trainer` arguments, `modelcheckpoint`, `callbacks`, `logger`, `strategy`). The config is
checked and its model, data and trainer built before the run directory is made, so a refused config leaves nothing
under the log folder.
"""

import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from omegaconf import DictConfig, OmegaConf

from sgm.core.config import ConfigError, instantiate, load_config
from sgm.train.autoencoder_module import AutoencoderTrainer
from sgm.train.checkpoint_io import AtomicCheckpointIO
from sgm.train.config_check import check_parameters, resolved_config
from sgm.train.data.webdataset import pipe_urls_allowed
from sgm.train.diffusion_module import DiffusionTrainer
from sgm.train.run_dir import RUN_DIR_ENV, RunDir, is_rank_zero, new_run_dir, resume_target
from sgm.train.trainer_config import build_callbacks, build_loggers, finish_loggers, trainer_arguments

logger = logging.getLogger(__name__)

DEFAULT_SEED = 23  # the reference main.py's default


@dataclass
class TrainOptions:
    """What the command line says: configs, `key=value` overrides and run settings. `allow_pipe` lets `pipe:` shard
    URLs run their shell command (the command line's `--allow-pipe`; a config cannot ask for it)."""

    base: Sequence[str | Path] = ()
    overrides: Sequence[str] = ()
    name: str | None = None
    resume: str | Path | None = None
    max_steps: int | None = None
    logdir: str | Path = "logs"
    seed: int = DEFAULT_SEED
    scale_lr: bool = False
    wandb: bool = False
    allow_pipe: bool = False
    trainer_overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainRun:
    run_dir: RunDir
    trainer: pl.Trainer
    module: pl.LightningModule


def training_module(engine: Any, learning_rate: float) -> pl.LightningModule:
    """The Lightning module that trains `engine`: DiffusionTrainer, AutoencoderTrainer, or a LightningModule as is."""
    if isinstance(engine, pl.LightningModule):
        engine.learning_rate = learning_rate
        return engine
    if hasattr(engine, "denoiser") and hasattr(engine, "loss_fn"):
        return DiffusionTrainer(engine, learning_rate)
    if hasattr(engine, "build_optimizers"):
        return AutoencoderTrainer(engine, learning_rate)
    raise ConfigError(
        f"model: do not know how to train a {type(engine).__name__} (expected a DiffusionEngine or an autoencoder)"
    )


def _batch_size(data_config: DictConfig) -> int:
    params = data_config.get("params") or {}
    if "batch_size" in params:
        return int(params["batch_size"])
    try:
        return int(params["train"]["loader"]["batch_size"])
    except (KeyError, TypeError):
        raise ConfigError("data.params: need batch_size (or train.loader.batch_size)") from None


def learning_rate(config: DictConfig, trainer: pl.Trainer, scale_lr: bool) -> float:
    """`model.base_learning_rate`, times accumulate_grad_batches * devices * batch size with `scale_lr` (as main.py)."""
    base_lr = float(config.model.get("base_learning_rate", 1.0e-4))
    if not scale_lr:
        return base_lr
    devices = trainer.num_devices * trainer.num_nodes
    return trainer.accumulate_grad_batches * devices * _batch_size(config.data) * base_lr


def load_run_config(options: TrainOptions) -> tuple[DictConfig, RunDir | None, Path | None]:
    """The merged and checked config, and the run directory and checkpoint to resume (None, None for a new run)."""
    run, checkpoint = None, None
    base = [Path(p) for p in options.base]
    if options.resume:
        run, checkpoint = resume_target(options.resume)
        if run.config_file.is_file():
            base = [run.config_file, *base]
    if not base:
        raise ConfigError("no config given: pass --base config.yaml (e.g. apps/train/configs/toy/digits.yaml)")
    config = load_config(*base, overrides=options.overrides)
    for key in ("model", "data"):
        if key not in config:
            raise ConfigError(f"the merged config has no `{key}` block")
    missing = sorted(OmegaConf.missing_keys(config))
    if missing:
        raise ConfigError(
            f"{', '.join(missing)}: the config leaves this to you; give it as key=value on the command line"
        )
    check_parameters(resolved_config(config))
    return config, run, checkpoint


def _start_trainer(
    config: DictConfig, run: RunDir, options: TrainOptions, trainer_kwargs: dict, engine: Any
) -> tuple[pl.Trainer, pl.LightningModule]:
    """The trainer with its loggers and callbacks writing into `run`, and the module it trains."""
    lightning_config = config.get("lightning") or OmegaConf.create()
    trainer = pl.Trainer(
        **trainer_kwargs,
        default_root_dir=str(run.root),
        logger=build_loggers(lightning_config, run, options.wandb),  # they write lazily, on first use
        callbacks=build_callbacks(lightning_config, run, getattr(engine, "monitor", None)),
        plugins=[AtomicCheckpointIO()],
    )
    module = training_module(engine, learning_rate(config, trainer, options.scale_lr))
    logger.info("learning rate %.3g", module.learning_rate)
    return trainer, module


def fit(options: TrainOptions) -> TrainRun:
    """Train (or resume) as the configs say; returns the run directory, trainer and module."""
    config, resumed, checkpoint = load_run_config(options)
    lightning_config = config.get("lightning") or OmegaConf.create()
    pl.seed_everything(options.seed, workers=True, verbose=False)  # said with -v only: a refusal stays one line
    logger.info("seed %d", options.seed)
    with pipe_urls_allowed(options.allow_pipe):
        engine = instantiate(config.model, key_path="model")
        data = instantiate(config.data, key_path="data")
        trainer_kwargs = trainer_arguments(lightning_config, options.max_steps, options.trainer_overrides)
        if resumed is not None:
            run = resumed
        else:
            name = options.name if options.name is not None else Path(options.base[0]).stem
            run = new_run_dir(options.logdir, name)
        try:
            trainer, module = _start_trainer(config, run, options, trainer_kwargs, engine)
        except BaseException:
            if resumed is None and is_rank_zero():
                run.remove_if_empty()
            raise
        if is_rank_zero():
            run.create()
            OmegaConf.save(config, run.config_file)
            os.environ[RUN_DIR_ENV] = str(run.root)  # DDP children re-run the command and must log here too
        for experiment_logger in trainer.loggers:  # the config as written: `${oc.env:...}` values stay unresolved
            experiment_logger.log_hyperparams(OmegaConf.to_container(config, resolve=False))
        try:
            with warnings.catch_warnings():
                if checkpoint:  # a resumed run writes into its own, non-empty checkpoints/ on purpose
                    warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
                trainer.fit(module, data, ckpt_path=str(checkpoint) if checkpoint else None)
        finally:
            finish_loggers(trainer.loggers)
    return TrainRun(run, trainer, module)
