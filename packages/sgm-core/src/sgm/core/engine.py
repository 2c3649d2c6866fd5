"""DiffusionEngine: the network, denoiser, conditioner, first stage and sampler of one latent diffusion model.

Inference side only; training (optimizers, EMA, logging) is the Lightning module in sgm-train, which reads the
training settings stored here. Attribute names are the reference's, so state-dict keys are the official ones:
`model.diffusion_model.*`, `first_stage_model.*`, `conditioner.*`, `denoiser.*`.
"""

import contextlib
import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn
from omegaconf import DictConfig

from sgm.core.config import ConfigError, instantiate, resolve
from sgm.core.inference.kept_context import constant_context

OPENAI_WRAPPER = "sgm.core.engine.OpenAIWrapper"
# The reference's stand-in for "no conditioning": a conditioner without embedders.
UNCONDITIONAL_CONFIG = {"target": "sgm.modules.GeneralConditioner", "params": {"emb_models": []}}


class IdentityWrapper(nn.Module):
    """Holds the network as `diffusion_model` and calls it with whatever it is given."""

    def __init__(self, diffusion_model: nn.Module, compile_model: bool = False):
        super().__init__()
        if compile_model:
            diffusion_model.compile()  # in place, so the state-dict keys stay the same
        self.diffusion_model = diffusion_model

    def forward(self, *args, **kwargs):
        return self.diffusion_model(*args, **kwargs)


class OpenAIWrapper(IdentityWrapper):
    """Maps a conditioner's output onto the UNet's inputs: `concat` is joined to `x` on the channel axis,
    `crossattn` becomes `context` and `vector` becomes `y`; SV4D's `cond_view` / `cond_motion` and extra kwargs
    (e.g. `num_video_frames`, `image_only_indicator`) pass through."""

    def forward(self, x: torch.Tensor, t: torch.Tensor, c: Mapping[str, Any], **kwargs) -> torch.Tensor:
        if "concat" in c:
            x = torch.cat((x, c["concat"].to(x.dtype)), dim=1)
        for key in ("cond_view", "cond_motion"):
            if key in c:
                kwargs[key] = c[key]
        return self.diffusion_model(x, timesteps=t, context=c.get("crossattn"), y=c.get("vector"), **kwargs)


def _build(config: Any, key_path: str) -> Any:
    """Build a `{target, params}` block; an object that is already built (a module, a sampler) is used as is."""
    if config is None or isinstance(config, (Mapping, DictConfig)):
        return instantiate(config, key_path=key_path)
    if isinstance(config, nn.Module) or callable(config):
        return config
    raise ConfigError(
        f"{key_path}: expected a {{target, params}} mapping or a built object, got {type(config).__name__}"
    )


class DiffusionEngine(nn.Module):
    """A latent diffusion model assembled from configs, with the reference's constructor.

    network_config / denoiser_config / first_stage_config / conditioner_config / sampler_config /
        loss_fn_config: `{target, params}` blocks (or already-built objects); no conditioner means an empty one,
        no sampler means `sample` needs `engine.sampler` set first.
    network_wrapper: target of the wrapper around the network (default OpenAIWrapper).
    ckpt_path: a checkpoint to load after building (see `init_from_ckpt`).
    scale_factor: latents are `scale_factor * first_stage.encode(x)`.
    disable_first_stage_autocast: run the first stage without CUDA autocast.
    en_and_decode_n_samples_a_time: encode/decode in chunks of this many samples (all at once if None).
    optimizer_config, scheduler_config, use_ema, ema_decay_rate, input_key, log_keys, no_cond_log: training
        settings, stored for sgm-train.
    """

    def __init__(
        self,
        network_config: Any,
        denoiser_config: Any,
        first_stage_config: Any,
        conditioner_config: Any = None,
        sampler_config: Any = None,
        optimizer_config: Any = None,
        scheduler_config: Any = None,
        loss_fn_config: Any = None,
        network_wrapper: str | None = None,
        ckpt_path: str | None = None,
        use_ema: bool = False,
        ema_decay_rate: float = 0.9999,
        scale_factor: float = 1.0,
        disable_first_stage_autocast: bool = False,
        input_key: str = "jpg",
        log_keys: Sequence[str] | None = None,
        no_cond_log: bool = False,
        compile_model: bool = False,
        en_and_decode_n_samples_a_time: int | None = None,
    ):
        super().__init__()
        if en_and_decode_n_samples_a_time is not None and en_and_decode_n_samples_a_time < 1:
            raise ValueError(
                f"en_and_decode_n_samples_a_time must be a positive int, got {en_and_decode_n_samples_a_time}"
            )
        self.log_keys = log_keys
        self.input_key = input_key
        self.optimizer_config = optimizer_config if optimizer_config is not None else {"target": "torch.optim.AdamW"}
        self.scheduler_config = scheduler_config
        self.use_ema = use_ema
        self.ema_decay_rate = ema_decay_rate

        network = _build(network_config, "network_config")
        wrapper = resolve(network_wrapper or OPENAI_WRAPPER, key_path="network_wrapper")
        self.model = wrapper(network, compile_model=compile_model)
        self.denoiser = _build(denoiser_config, "denoiser_config")
        self.sampler = _build(sampler_config, "sampler_config")
        self.conditioner = _build(
            conditioner_config if conditioner_config is not None else UNCONDITIONAL_CONFIG, "conditioner_config"
        )
        self.first_stage_model = self._frozen(_build(first_stage_config, "first_stage_config"))
        self.loss_fn = _build(loss_fn_config, "loss_fn_config")

        self.scale_factor = scale_factor
        self.disable_first_stage_autocast = disable_first_stage_autocast
        self.no_cond_log = no_cond_log
        self.en_and_decode_n_samples_a_time = en_and_decode_n_samples_a_time
        if ckpt_path is not None:
            self.init_from_ckpt(ckpt_path)

    @staticmethod
    def _frozen(model: nn.Module) -> nn.Module:
        model.eval()
        for param in model.parameters():
            param.requires_grad = False
        return model

    def train(self, mode: bool = True) -> "DiffusionEngine":
        """As `nn.Module.train`, but the frozen first stage stays in eval mode."""
        super().train(mode)
        self.first_stage_model.eval()
        return self

    def init_from_ckpt(self, path: str) -> Any:
        """Load a checkpoint file into this engine (non-strict, as the reference); returns the load report."""
        from sgm.core.checkpoint import load_checkpoint_into  # sgm.core.checkpoint builds on the engine's keys

        return load_checkpoint_into(self, path)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def get_input(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """The images of a batch: `batch[input_key]`, `[B, C, H, W]` in [-1, 1]."""
        if self.input_key not in batch:
            raise KeyError(f"batch has no {self.input_key!r} (input_key); it has {sorted(batch)}")
        return batch[self.input_key]

    def _first_stage_autocast(self, device: torch.device):
        if device.type != "cuda":
            return contextlib.nullcontext()
        return torch.autocast("cuda", enabled=not self.disable_first_stage_autocast)

    def _chunks(self, x: torch.Tensor) -> list[torch.Tensor]:
        n = self.en_and_decode_n_samples_a_time or x.shape[0]
        return [x[i * n : (i + 1) * n] for i in range(math.ceil(x.shape[0] / n))]

    @torch.no_grad()
    def encode_first_stage(self, x: torch.Tensor) -> torch.Tensor:
        """Images to latents, `scale_factor * first_stage.encode(x)`."""
        with self._first_stage_autocast(x.device):
            z = torch.cat([self.first_stage_model.encode(chunk) for chunk in self._chunks(x)], dim=0)
        return self.scale_factor * z

    @torch.no_grad()
    def decode_first_stage(self, z: torch.Tensor) -> torch.Tensor:
        """Latents to images, `first_stage.decode(z / scale_factor)`; a temporal decoder gets each chunk's
        length as `timesteps` (its frames), as in the reference."""
        z = 1.0 / self.scale_factor * z
        takes_timesteps = getattr(self.first_stage_model, "decoder_takes_timesteps", False)
        outputs = []
        with self._first_stage_autocast(z.device):
            for chunk in self._chunks(z):
                kwargs = {"timesteps": len(chunk)} if takes_timesteps else {}
                outputs.append(self.first_stage_model.decode(chunk, **kwargs))
        return torch.cat(outputs, dim=0)

    def forward(self, x: torch.Tensor, batch: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The training loss of latents `x`: `loss_fn(model, denoiser, conditioner, x, batch)`, averaged."""
        if self.loss_fn is None:
            raise ValueError("DiffusionEngine has no loss function: give loss_fn_config to compute a loss")
        loss = self.loss_fn(self.model, self.denoiser, self.conditioner, x, batch).mean()
        return loss, {"loss": loss}

    @torch.no_grad()
    def sample(
        self,
        cond: Mapping[str, torch.Tensor],
        uc: Mapping[str, torch.Tensor] | None = None,
        batch_size: int = 16,
        shape: Sequence[int] | None = None,
        **kwargs,
    ) -> torch.Tensor:
        """Latents drawn by the sampler from `randn(batch_size, *shape)`; kwargs go to the denoiser (and network)."""
        if self.sampler is None:
            raise ValueError("DiffusionEngine has no sampler: pass sampler_config or set engine.sampler")
        if shape is None:
            raise ValueError(
                "DiffusionEngine.sample needs shape, the latent shape without the batch axis, e.g. (4, 64, 64)"
            )
        randn = torch.randn(batch_size, *shape).to(self.device)  # drawn on the CPU, as the reference, for any device
        with constant_context():  # the conditioning is the same at every step
            return self.sampler(functools.partial(self.denoise, **kwargs), randn, cond, uc=uc)

    def denoise(
        self, x: torch.Tensor, sigma: torch.Tensor, cond: Mapping[str, torch.Tensor], **network_inputs: Any
    ) -> torch.Tensor:
        """D(x, sigma): the denoiser's estimate of the clean latents, the function every sampler calls;
        `network_inputs` go on to the network (e.g. a video UNet's `num_video_frames`)."""
        return self.denoiser(self.model, x, sigma, cond, **network_inputs)
