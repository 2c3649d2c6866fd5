"""What every video pipeline does around sampling: per-stage progress, building the sampler from the config with the request's steps
and guidance, conditioning, chunked decoding, and finishing frames as every output is finished (`outputs`). Where weights sit
while each stage runs is `offloading`'s business, the same for every model."""

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf
from PIL import Image

from sgm.core.config import instantiate
from sgm.core.errors import SgmError
from sgm.pipelines.compiled import sampling_denoiser
from sgm.pipelines.outputs import finished_images
from sgm.pipelines.progress import Progress, ProgressCallback


def check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise SgmError(f"{name} must be a positive whole number, got {value!r}")
    return int(value)


def pixels(images: list[Image.Image], device: torch.device) -> torch.Tensor:
    """RGB images to a contiguous `[N, 3, H, W]` float32 in [-1, 1]. Contiguous matters: `randn_like` fills a
    channels-last view in another order, and the reference's noise is drawn for a contiguous tensor."""
    arrays = np.stack([np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0 for image in images])
    return (torch.from_numpy(arrays).permute(0, 3, 1, 2).contiguous().to(device) * 2.0 - 1.0).contiguous()


class VideoPipeline:
    """A DiffusionEngine with its config's sampler block and its `sampling:` defaults.

    engine: the model, without its sampler; sampler_config: the config's sampler (its steps, guidance scales and
    frame count are set per run); device: where sampling runs; watermark: mark every frame.
    """

    def __init__(
        self,
        engine: torch.nn.Module,
        sampler_config: Mapping,
        sampling: Mapping[str, Any],
        *,
        name: str = "model",
        device: str | torch.device | None = None,
        watermark: bool = True,
    ):
        self.engine = engine.eval()
        self.sampler_config = OmegaConf.to_container(OmegaConf.create(sampler_config), resolve=True)
        self.sampling = dict(sampling)
        self.name = name
        self.device = torch.device(device) if device is not None else next(engine.model.parameters()).device
        self.watermark = watermark
        self.sampling_mode = "none"  # how the denoiser is called: none, graphs or compile (sgm.pipelines.compiled)
        self.split_guidance = False  # the network once per half of the guidance batch (sgm.pipelines.guidance_split)

    def option(self, value: Any, key: str) -> Any:
        """`value`, or this model's default for `key` when it is None."""
        return self.sampling.get(key) if value is None else value

    @property
    def network_dtype(self) -> torch.dtype:
        return next(self.engine.model.parameters()).dtype

    @property
    def value_dtype(self) -> torch.dtype:
        """The dtype of conditioning numbers (fps, cameras, ...): float32, as the reference computes them, or float64
        in an fp64 run."""
        return torch.float64 if self.network_dtype == torch.float64 else torch.float32

    def sampler(self, steps: Any, num_frames: int, cfg: Any, min_cfg: Any, progress: Progress, stage: str = "sample"):
        """The config's sampler with `steps` steps (None: the model's), its guider's highest and lowest scales `cfg`
        and `min_cfg` (None: the model's) for `num_frames` frames, reporting each step to `progress`."""
        steps = check_positive_int(self.option(steps, "steps"), "steps")
        params = dict(self.sampler_config.get("params", {}), num_steps=steps, progress=False)
        params["guider_config"] = self.guider_config(num_frames, cfg, min_cfg)
        sampler = instantiate(dict(self.sampler_config, params=params))
        sampler.callback = progress.for_stage(stage)
        return sampler

    def guider_config(self, num_frames: int, cfg: Any, min_cfg: Any) -> dict:
        """The config's guider with its highest and lowest scales `cfg` and `min_cfg` (None: the model's) for
        `num_frames` frames."""
        guider = dict(self.sampler_config.get("params", {}).get("guider_config") or {})
        guider_params = dict(guider.get("params", {}))
        for key, value, name in (("max_scale", cfg, "cfg"), ("min_scale", min_cfg, "min_cfg")):
            value = self.option(value, name)
            if value is not None:
                if not 0 <= value < float("inf"):
                    raise SgmError(f"{name} must be a finite number, 0 or more, got {value}")
                guider_params[key] = float(value)
        if "num_frames" in guider_params:
            guider_params["num_frames"] = num_frames
        return dict(guider, params=guider_params)

    def denoiser(self, frames: int, image_only: bool, cfg: Any, min_cfg: Any) -> Callable:
        """What the sampler calls on the guidance batch of a `frames`-frame video: the network with the frame count
        and `image_only_indicator` set to `image_only` for every frame, called as `sampling_mode` says; with
        `split_guidance`, once per half of the batch of the guider of `guider_config`."""
        indicator = torch.full((2, frames), float(image_only), device=self.device)
        guider = instantiate(self.guider_config(frames, cfg, min_cfg)) if self.split_guidance else None
        return sampling_denoiser(self.engine, self.sampling_mode, guider, image_only_indicator=indicator,
                                 num_video_frames=frames)  # fmt: skip

    @torch.no_grad()
    def conditionings(self, batch: dict, batch_uc: dict, force_zero: list[str]) -> tuple[dict, dict]:
        """The conditioner's `(cond, uncond)` for `batch`."""
        conditioner = self.engine.conditioner
        keys = {embedder.input_key for embedder in conditioner.embedders}
        return conditioner.get_unconditional_conditioning(
            batch, batch_uc=batch_uc, force_uc_zero_embeddings=[k for k in force_zero if k in keys]
        )

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, decoding_t: int, progress: Progress) -> torch.Tensor:
        """Latents `[N, C, h, w]` to images `[N, 3, H, W]` in [0, 1] on the CPU, `decoding_t` frames at a time."""
        decoding_t = check_positive_int(decoding_t, "decoding_t")
        chunks = latents.split(decoding_t)
        outputs = []
        engine = self.engine
        dtype = next(engine.first_stage_model.parameters()).dtype
        for i, chunk in enumerate(chunks):
            progress.report("decode", i, len(chunks))
            engine.en_and_decode_n_samples_a_time = decoding_t
            decoded = engine.decode_first_stage(chunk.to(self.device, dtype)).float()
            outputs.append(torch.clamp((decoded + 1.0) / 2.0, 0.0, 1.0).cpu())
        progress.report("decode", len(chunks), len(chunks))
        return torch.cat(outputs)

    def finish(self, samples: torch.Tensor) -> list[Image.Image]:
        """Frames `[T, 3, H, W]` in [0, 1] as 8-bit images, watermarked unless turned off."""
        return finished_images(samples, watermark=self.watermark)

    def progress(self, callback: ProgressCallback | None) -> Progress:
        return Progress(self.name, callback)

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        factor = self.latent_factor
        if height % factor or width % factor:
            raise SgmError(f"height and width must be multiples of {factor}, got {height}x{width}")
        return frames, self.engine.model.diffusion_model.out_channels, height // factor, width // factor

    @property
    def latent_factor(self) -> int:
        decoder = getattr(self.engine.first_stage_model, "decoder", None)
        levels = getattr(decoder, "num_resolutions", None)
        return 2 ** (levels - 1) if levels else 8

    def repeat_per_frame(self, cond: dict, frames: int, keys=("crossattn", "concat")) -> dict:
        """Each of `keys` repeated for every frame, `[B, ...] -> [(B T), ...]`, as the SVD scripts do."""
        return {k: (v.repeat_interleave(frames, dim=0) if k in keys else v) for k, v in cond.items()}

    def batch_value(self, value: Any, count: int) -> torch.Tensor:
        """A number repeated `count` times, or a sequence tiled to `count`, as the scripts' `get_batch` builds them,
        in `value_dtype`."""
        tensor = torch.as_tensor(np.asarray(value, dtype=np.float64).reshape(-1)).to(self.device, self.value_dtype)
        if count % tensor.numel():
            raise SgmError(f"{tensor.numel()} values cannot be tiled to {count}")
        return tensor.repeat(count // tensor.numel())
