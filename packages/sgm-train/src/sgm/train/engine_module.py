"""The Lightning side of a plain `nn.Module` engine (DiffusionEngine, AutoencodingEngine).

The engine's submodules are registered directly on the Lightning module, so its checkpoint `state_dict` has the
engine's own keys (`model.diffusion_model.*`, `conditioner.*`, `encoder.*`, ...), as the reference's Lightning
checkpoints do, plus the EMA's `model_ema.*` buffers.
"""

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn

from sgm.core.config import resolve
from sgm.train.ema import LitEma

logger = logging.getLogger(__name__)


class EngineModule(pl.LightningModule):
    """Holds `engine` (not as a submodule: its children are ours), the learning rate and an optional EMA of
    `ema_target(engine)`'s weights."""

    def __init__(self, engine: nn.Module, learning_rate: float, ema_decay: float | None = None):
        super().__init__()
        if learning_rate <= 0:
            raise ValueError(f"learning rate must be positive, got {learning_rate}")
        direct = [name for name, _ in engine.named_parameters(recurse=False)]
        direct += [name for name, _ in engine.named_buffers(recurse=False)]
        if direct:
            raise ValueError(f"{type(engine).__name__} holds tensors outside submodules ({direct}); cannot adopt it")
        object.__setattr__(self, "_engine", engine)
        for name, child in engine.named_children():
            self.add_module(name, child)
        self.learning_rate = learning_rate
        self.use_ema = ema_decay is not None
        if self.use_ema:
            self.model_ema = LitEma(self.ema_target(), decay=ema_decay)
            logger.info("keeping EMAs of %d tensors", len(self.model_ema.m_name2s_name))

    @property
    def engine(self) -> nn.Module:
        return self._engine

    def ema_target(self) -> nn.Module:
        """The module whose weights the EMA follows."""
        return self.engine

    def train(self, mode: bool = True) -> "EngineModule":
        self.training = mode
        self.engine.train(mode)  # the engine knows which parts stay frozen
        if self.use_ema:
            self.model_ema.train(mode)
        return self

    def update_ema(self) -> None:
        """One EMA step; called right after each optimizer step, so a checkpoint saved at the end of the
        batch (callbacks run before the module's own batch-end hook) already holds it."""
        if self.use_ema:
            self.model_ema(self.ema_target())

    @contextlib.contextmanager
    def ema_scope(self, context: str | None = None) -> Iterator[None]:
        """Run the block with the EMA weights (a no-op without EMA)."""
        if not self.use_ema:
            yield
            return
        with self.model_ema.average_weights(self.ema_target()):
            if context is not None:
                logger.info("%s: switched to EMA weights", context)
            yield
        if context is not None:
            logger.info("%s: restored training weights", context)


def build_optimizer(params: Any, lr: float, config: Mapping) -> torch.optim.Optimizer:
    """`target(params, lr=lr, **params)` from an `optimizer_config` block, as the reference builds optimizers."""
    optimizer_cls = resolve(config["target"], key_path="optimizer_config.target")
    return optimizer_cls(params, lr=lr, **dict(config.get("params") or {}))
