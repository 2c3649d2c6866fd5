"""ImageLogger: every `batch_frequency` steps (and at 1, 2, 4, ... before that), saves the module's
`log_images(batch)` as PNG grids under `<run dir>/images/<split>/`, with the reference callback's parameters."""

import contextlib
import logging
import math
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
import torchvision
from lightning.pytorch import loggers as pl_loggers
from lightning.pytorch.utilities import rank_zero_only
from PIL import Image

logger = logging.getLogger(__name__)


def image_grid(images: torch.Tensor, n_rows: int, rescale: bool = True) -> np.ndarray:
    """`[N, C, H, W]` images in [-1, 1] (or [0, 1] without `rescale`) as one uint8 `[H, W(, C)]` grid array;
    torchvision's `nrow` is the number of images per row."""
    grid = torchvision.utils.make_grid(images, nrow=n_rows)
    if rescale:
        grid = (grid + 1.0) / 2.0
    grid = grid.clamp(0.0, 1.0).permute(1, 2, 0)
    if images.shape[1] == 1:
        grid = grid[..., 0]
    return (grid.numpy() * 255.0).round().astype(np.uint8)


def log_grid(loggers: list, tag: str, grid: np.ndarray, step: int) -> None:
    """Send a uint8 grid to the experiment loggers that take images (TensorBoard, W&B); CSV has no images."""
    for experiment_logger in loggers:
        if isinstance(experiment_logger, pl_loggers.TensorBoardLogger):
            dataformats = "HW" if grid.ndim == 2 else "HWC"
            experiment_logger.experiment.add_image(tag, grid, global_step=step, dataformats=dataformats)
        elif isinstance(experiment_logger, pl_loggers.WandbLogger):
            experiment_logger.log_image(key=tag, images=[Image.fromarray(grid)], step=step)


class ImageLogger(pl.Callback):
    """batch_frequency: log every this many steps; max_images: images per grid; clamp: clip to [-1, 1];
    increase_log_steps: also log at steps 1, 2, 4, ... < batch_frequency; rescale: map [-1, 1] to [0, 1];
    disabled: do nothing; log_on_batch_idx: count batches of the epoch instead of global steps; log_first_step:
    also log at step 0; log_images_kwargs: passed to `log_images` (`n_rows` sets the grid's images per row);
    log_before_first_step: log once before training; enable_autocast: run `log_images` under CUDA autocast."""

    def __init__(
        self,
        batch_frequency: int,
        max_images: int,
        clamp: bool = True,
        increase_log_steps: bool = True,
        rescale: bool = True,
        disabled: bool = False,
        log_on_batch_idx: bool = False,
        log_first_step: bool = False,
        log_images_kwargs: dict | None = None,
        log_before_first_step: bool = False,
        enable_autocast: bool = True,
    ):
        super().__init__()
        if batch_frequency < 1:
            raise ValueError(f"ImageLogger batch_frequency must be >= 1, got {batch_frequency}")
        self.batch_freq = batch_frequency
        self.max_images = max_images
        self.clamp = clamp
        self.rescale = rescale
        self.disabled = disabled
        self.log_on_batch_idx = log_on_batch_idx
        self.log_first_step = log_first_step
        self.log_before_first_step = log_before_first_step
        self.enable_autocast = enable_autocast
        self.log_images_kwargs = dict(log_images_kwargs or {})
        self.n_rows = self.log_images_kwargs.pop("n_rows", 4)
        self.log_steps = [2**n for n in range(int(math.log2(batch_frequency)) + 1)] if increase_log_steps else []

    def check_frequency(self, check_idx: int) -> bool:
        if check_idx == 0 and not self.log_first_step:
            return False
        if check_idx % self.batch_freq == 0:
            return True
        if check_idx in self.log_steps:
            self.log_steps.remove(check_idx)
            return True
        return False

    def _autocast(self, device: torch.device):
        if device.type == "cuda" and self.enable_autocast:
            return torch.autocast("cuda")
        return contextlib.nullcontext()

    @rank_zero_only
    def log_img(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int, split: str) -> None:
        step = batch_idx if self.log_on_batch_idx else pl_module.global_step
        if (
            self.max_images <= 0
            or not callable(getattr(pl_module, "log_images", None))
            or not self.check_frequency(step)
        ):
            return
        was_training = pl_module.training
        pl_module.eval()
        try:
            with torch.no_grad(), self._autocast(pl_module.device):
                images = pl_module.log_images(batch, split=split, **self.log_images_kwargs)
        finally:
            pl_module.train(was_training)
        root = Path(trainer.default_root_dir) / "images" / split
        root.mkdir(parents=True, exist_ok=True)
        for key, value in images.items():
            if not isinstance(value, torch.Tensor) or value.ndim != 4:
                continue
            value = value[: self.max_images].detach().float().cpu()
            if self.clamp:
                value = value.clamp(-1.0, 1.0)
            grid = image_grid(value, self.n_rows, self.rescale)
            name = f"{key}_gs-{pl_module.global_step:06}_e-{pl_module.current_epoch:06}_b-{batch_idx:06}.png"
            Image.fromarray(grid).save(root / name)
            log_grid(trainer.loggers, f"{split}/{key}", grid, pl_module.global_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self.disabled and (pl_module.global_step > 0 or self.log_first_step):
            self.log_img(trainer, pl_module, batch, batch_idx, "train")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.log_before_first_step and pl_module.global_step == 0 and not self.disabled:
            self.log_img(trainer, pl_module, batch, batch_idx, "train")

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if not self.disabled and pl_module.global_step > 0:
            self.log_img(trainer, pl_module, batch, batch_idx, "val")
