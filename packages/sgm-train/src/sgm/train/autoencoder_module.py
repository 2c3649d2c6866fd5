"""Training a `sgm.autoencoders` AutoencodingEngine with Lightning: manual optimization alternating the
autoencoder and (after `disc_start_iter` steps) the discriminator, as the reference's AutoencodingEngine does."""

import warnings
from collections.abc import Mapping
from typing import Any

import torch

from sgm.train.engine_module import EngineModule

# Lightning warns that step-interval checkpoints of manually optimized modules hold the weights after the step; that
# is what they should hold, since the saved global_step already counts that step.
warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization and every_n_train_steps")


class AutoencoderTrainer(EngineModule):
    """Optimizer 0 trains encoder, decoder and the loss's autoencoder parameters (lr * lr_g_factor); optimizer 1,
    when the loss has a discriminator, trains it. Batch i uses optimizer i % 2, but only optimizer 0 before
    `disc_start_iter`. With `ema_decay` on the engine, an EMA of all its weights is validated alongside."""

    def __init__(self, engine, learning_rate: float = 4.5e-6):
        super().__init__(engine, learning_rate, getattr(engine, "ema_decay", None))
        self.automatic_optimization = False

    def _loss_inputs(self, z, regularization_log, optimizer_idx: int, split: str) -> dict[str, Any]:
        loss = self.engine.loss
        if not hasattr(loss, "forward_keys"):
            return {}
        available = {
            "z": z,
            "optimizer_idx": optimizer_idx,
            "global_step": self.global_step,
            "last_layer": self.engine.get_last_layer(),
            "split": split,
            "regularization_log": regularization_log,
            "autoencoder": self.engine,
        }
        return {key: available[key] for key in loss.forward_keys}

    def _decode_kwargs(self, batch: Mapping) -> dict[str, Any]:
        return {key: batch[key] for key in self.engine.additional_decode_keys.intersection(batch)}

    def _loss(self, batch: Mapping, optimizer_idx: int, split: str) -> tuple[torch.Tensor, dict]:
        x = self.engine.get_input(batch)
        z, xrec, regularization_log = self.engine(x, **self._decode_kwargs(batch))
        out = self.engine.loss(x, xrec, **self._loss_inputs(z, regularization_log, optimizer_idx, split))
        if isinstance(out, tuple):
            return out
        return out, {f"{split}/loss/rec": out.detach()}  # a plain loss such as torch.nn.MSELoss-like modules

    def training_step(self, batch: dict, batch_idx: int) -> None:
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        optimizer_idx = batch_idx % len(optimizers)
        if self.global_step < self.engine.disc_start_iter:
            optimizer_idx = 0
        optimizer = optimizers[optimizer_idx]
        optimizer.zero_grad()
        with optimizer.toggle_model():
            loss, log_dict = self._loss(batch, optimizer_idx, "train")
            self.manual_backward(loss)
        optimizer.step()
        self.update_ema()
        self.log_dict(log_dict, prog_bar=False, on_step=True, on_epoch=False)
        if optimizer_idx == 0:
            self.log("loss", loss.detach().mean(), prog_bar=True, logger=False, on_step=True, on_epoch=False)

    def validation_step(self, batch: dict, batch_idx: int) -> dict:
        log_dict = self._validation_logs(batch, "")
        if self.use_ema:
            with self.ema_scope():
                log_dict.update(self._validation_logs(batch, "_ema"))
        return log_dict

    def _validation_logs(self, batch: dict, postfix: str) -> dict:
        split = f"val{postfix}"
        _, log_dict = self._loss(batch, 0, split)
        if hasattr(self.engine.loss, "forward_keys") and "optimizer_idx" in self.engine.loss.forward_keys:
            _, disc_log = self._loss(batch, 1, split)
            log_dict = {**log_dict, **disc_log}
        self.log_dict(log_dict, sync_dist=True)
        return log_dict

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        return self.engine.build_optimizers(self.learning_rate)

    @torch.no_grad()
    def log_images(self, batch: Mapping, N: int = 8, **kwargs) -> dict[str, torch.Tensor]:
        """Inputs, reconstructions (also with the EMA weights) and their differences for the first `N` images."""
        batch = {key: value[:N] if isinstance(value, torch.Tensor) else value for key, value in batch.items()}
        log = self.engine.log_images(batch)
        if self.use_ema:
            with self.ema_scope():
                log["reconstructions_ema"] = self.engine.log_images(batch)["reconstructions"]
        return log
