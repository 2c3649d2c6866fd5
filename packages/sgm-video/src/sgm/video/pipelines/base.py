"""What every video pipeline does around sampling: seeding, per-stage progress, moving the conditioning encoders
and the autoencoder onto the accelerator only while they work, building the sampler, conditioning, decoding."""

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf
from PIL import Image
from tqdm.auto import tqdm

from sgm.core.config import instantiate
from sgm.core.errors import SgmError

# callback(stage, step, total), as sgm.core.pipelines: called at each step of each stage; it may raise to stop.
StepCallback = Callable[[str, int, int], None]


def check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise SgmError(f"{name} must be a positive whole number, got {value!r}")
    return int(value)


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise SgmError(f"seed must be a whole number in [0, 2^63), got {seed!r}")
    return int(seed)


def pixels(images: list[Image.Image], device: torch.device) -> torch.Tensor:
    """RGB images to `[N, 3, H, W]` float32 in [-1, 1]."""
    arrays = np.stack([np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0 for image in images])
    return torch.from_numpy(arrays).permute(0, 3, 1, 2).to(device) * 2.0 - 1.0


def to_images(samples: torch.Tensor) -> list[Image.Image]:
    """`[N, 3, H, W]` in [0, 1] to PIL images."""
    array = (samples.float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    return [Image.fromarray(frame) for frame in array]


class VideoPipeline:
    """A DiffusionEngine and its config's `sampling` defaults.

    engine: the model, without its sampler; sampler_config: the config's sampler block (rebuilt per run with the
    requested steps and frames); device: where sampling runs; offload: keep the conditioner and the first stage
    on the CPU except while they run (only matters on an accelerator); progress: tqdm bars per stage.
    """

    def __init__(
        self,
        engine: torch.nn.Module,
        sampler_config: Mapping,
        sampling: Mapping[str, Any],
        *,
        name: str = "model",
        device: str | torch.device | None = None,
        offload: bool = True,
        progress: bool = True,
    ):
        self.engine = engine.eval()
        self.sampler_config = OmegaConf.to_container(OmegaConf.create(sampler_config), resolve=True)
        self.sampling = dict(sampling)
        self.name = name
        self.device = torch.device(device) if device is not None else next(engine.model.parameters()).device
        self.offload = offload and self.device.type != "cpu"
        self.progress = progress
        self.engine.model.to(self.device)
        self.engine.denoiser.to(self.device)
        for module in (self.engine.conditioner, self.engine.first_stage_model):
            module.to("cpu" if self.offload else self.device)

    def set_guidance(self, cfg: float | None = None, min_cfg: float | None = None) -> None:
        """The guider's `max_scale` (`cfg`) and `min_scale` (`min_cfg`, the per-frame ramp's low end) for the
        following samples; None keeps the config's."""
        guider = self.sampler_config.get("params", {}).get("guider_config", {}).get("params", {})
        for key, value in (("max_scale", cfg), ("min_scale", min_cfg)):
            if value is not None:
                if not value >= 0:
                    raise SgmError(f"guidance scales must be 0 or more, got {key}={value}")
                guider[key] = float(value)

    def option(self, value: Any, key: str) -> Any:
        """`value`, or this model's default for `key` when it is None."""
        return self.sampling.get(key) if value is None else value

    @contextlib.contextmanager
    def on_device(self, module: torch.nn.Module) -> Iterator[torch.nn.Module]:
        """`module` on the sampling device for the block; back on the CPU afterwards when offloading."""
        module.to(self.device)
        try:
            yield module
        finally:
            if self.offload:
                module.to("cpu")
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()

    def stage(self, name: str, total: int, callback: StepCallback | None):
        """A progress reporter for one stage: `report(i)` after each of `total` steps."""
        bar = tqdm(total=total, desc=f"{self.name}: {name}", disable=None if self.progress else True, leave=False)

        def report(i: int) -> None:
            bar.update(i - bar.n)
            if callback is not None:
                callback(name, i, total)
            if i >= total:
                bar.close()

        report(0)
        return report

    def sampler(self, num_steps: int, num_frames: int, callback: StepCallback | None, stage: str = "sample"):
        """The config's sampler with `num_steps` steps, its guider set for `num_frames` frames, reporting steps."""
        config = dict(self.sampler_config)
        params = dict(config.get("params", {}))
        params["num_steps"] = num_steps
        guider = dict(params.get("guider_config") or {})
        if "num_frames" in guider.get("params", {}):
            guider["params"] = dict(guider["params"], num_frames=num_frames)
            params["guider_config"] = guider
        params["progress"] = False  # this pipeline reports the stage itself
        sampler = instantiate(dict(config, params=params))
        report = self.stage(stage, num_steps, callback)
        step_indices = sampler.get_sigma_gen

        def reporting(num_sigmas: int):
            for i in step_indices(num_sigmas):
                yield i
                report(i + 1)

        sampler.get_sigma_gen = reporting
        return sampler, report

    @torch.no_grad()
    def conditionings(self, batch: dict, batch_uc: dict, force_zero: list[str]) -> tuple[dict, dict]:
        """The conditioner's `(cond, uncond)` for `batch`, computed with the conditioner on the device."""
        with self.on_device(self.engine.conditioner) as conditioner:
            keys = {embedder.input_key for embedder in conditioner.embedders}
            return conditioner.get_unconditional_conditioning(
                batch, batch_uc=batch_uc, force_uc_zero_embeddings=[k for k in force_zero if k in keys]
            )

    def denoiser(self, **model_inputs: Any) -> Callable:
        def denoise(x: torch.Tensor, sigma: torch.Tensor, cond: dict) -> torch.Tensor:
            return self.engine.denoiser(self.engine.model, x, sigma, cond, **model_inputs)

        return denoise

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, decoding_t: int, callback: StepCallback | None) -> torch.Tensor:
        """Latents `[N, C, h, w]` to images `[N, 3, H, W]` in [0, 1], `decoding_t` frames at a time."""
        decoding_t = check_positive_int(decoding_t, "decoding_t")
        chunks = latents.split(decoding_t)
        report = self.stage("decode", len(chunks), callback)
        outputs = []
        engine = self.engine
        with self.on_device(engine.first_stage_model) as first_stage:
            dtype = next(first_stage.parameters()).dtype
            for i, chunk in enumerate(chunks):
                engine.en_and_decode_n_samples_a_time = decoding_t
                decoded = engine.decode_first_stage(chunk.to(self.device, dtype)).float()
                outputs.append(torch.clamp((decoded + 1.0) / 2.0, 0.0, 1.0).cpu())
                report(i + 1)
        return torch.cat(outputs)

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


def as_batch_value(value: Any, count: int, device: torch.device) -> torch.Tensor:
    """A number repeated `count` times, or a sequence tiled to `count`, as the scripts' `get_batch` builds them
    (`torch.tensor` of the value, so Python floats become float32 and NumPy float64 stays float64)."""
    sequence = isinstance(value, (list, tuple, np.ndarray))
    tensor = torch.tensor(np.asarray(value) if sequence else [value], device=device)
    if count % tensor.numel():
        raise SgmError(f"{tensor.numel()} values cannot be tiled to {count}")
    return tensor.repeat(count // tensor.numel())
