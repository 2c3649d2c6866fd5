"""Training a `sgm.core.engine.DiffusionEngine` with Lightning, as the reference's DiffusionEngine trains itself."""

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch.optim.lr_scheduler import LambdaLR

from sgm.core.config import instantiate
from sgm.train.engine_module import EngineModule, build_optimizer


def _plain(config: Any) -> Any:
    return OmegaConf.to_container(config, resolve=True) if isinstance(config, DictConfig) else config


class DiffusionTrainer(EngineModule):
    """Loss `engine(x, batch)` on first-stage latents of `batch[input_key]`; conditioning dropout comes from each
    embedder's `ucg_rate` inside the conditioner. Optimizes the network and the trainable embedders with
    `engine.optimizer_config` at `learning_rate`, stepping `engine.scheduler_config`'s multiplier every step.
    With `engine.use_ema`, an EMA of `engine.model` (decay `engine.ema_decay_rate`) is used for sampling."""

    def __init__(self, engine, learning_rate: float = 1.0e-4):
        if engine.loss_fn is None:
            raise ValueError("the model config has no loss_fn_config; training needs one (see configs/toy/digits.yaml)")
        super().__init__(engine, learning_rate, engine.ema_decay_rate if engine.use_ema else None)

    def ema_target(self):
        return self.engine.model

    def shared_step(self, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = self.engine.encode_first_stage(self.engine.get_input(batch))
        batch["global_step"] = self.global_step
        return self.engine(x, batch)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss, loss_dict = self.shared_step(batch)
        self.log_dict(loss_dict, prog_bar=True, on_step=True, on_epoch=False)
        self.log("global_step", float(self.global_step), prog_bar=False, on_step=True, on_epoch=False)
        if self.engine.scheduler_config is not None:
            self.log("lr_abs", self.optimizers().param_groups[0]["lr"], prog_bar=True, on_step=True, on_epoch=False)
        return loss

    def optimizer_step(self, *args, **kwargs) -> None:
        super().optimizer_step(*args, **kwargs)
        self.update_ema()

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        with self.ema_scope():
            loss, _ = self.shared_step(batch)
        self.log("val/loss", loss, prog_bar=True, sync_dist=True)

    def on_train_start(self) -> None:
        if self.engine.sampler is None:
            raise ValueError("the model config has no sampler_config; training logs samples and needs one")

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        params = list(self.engine.model.parameters())
        for embedder in getattr(self.engine.conditioner, "embedders", []):
            if getattr(embedder, "is_trainable", False):
                params += list(embedder.parameters())
        return params

    def configure_optimizers(self) -> Any:
        optimizer = build_optimizer(
            self.trainable_parameters(), self.learning_rate, _plain(self.engine.optimizer_config)
        )
        if self.engine.scheduler_config is None:
            return optimizer
        schedule = instantiate(_plain(self.engine.scheduler_config), key_path="model.params.scheduler_config")
        scheduler = {"scheduler": LambdaLR(optimizer, lr_lambda=schedule.schedule), "interval": "step", "frequency": 1}
        return [optimizer], [scheduler]

    @torch.no_grad()
    def log_images(
        self, batch: Mapping, N: int = 8, sample: bool = True, ucg_keys: Sequence[str] | None = None, **kwargs
    ) -> dict[str, torch.Tensor]:
        """Inputs, reconstructions and (EMA) samples for the batch's first `N` conditionings, in [-1, 1]."""
        engine = self.engine
        embedders = list(getattr(engine.conditioner, "embedders", []))
        input_keys = [e.input_key for e in embedders]
        if ucg_keys and not set(ucg_keys) <= set(input_keys):
            raise ValueError(f"ucg_keys {list(ucg_keys)} must be conditioner input keys {input_keys}")
        x = engine.get_input(batch)
        n = min(x.shape[0], N)
        x = x[:n].to(self.device)
        z = engine.encode_first_stage(x)
        log = {"inputs": x, "reconstructions": engine.decode_first_stage(z)}
        if not sample:
            return log
        c, uc = engine.conditioner.get_unconditional_conditioning(
            dict(batch), force_uc_zero_embeddings=list(ucg_keys or input_keys) if embedders else []
        )
        for key in c:
            if isinstance(c[key], torch.Tensor):
                c[key], uc[key] = c[key][:n].to(self.device), uc[key][:n].to(self.device)
        with self.ema_scope("Plotting"):
            samples = engine.sample(c, uc=uc, batch_size=n, shape=z.shape[1:])
        log["samples"] = engine.decode_first_stage(samples)
        return log
