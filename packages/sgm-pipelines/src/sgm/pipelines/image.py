"""Image generation with one DiffusionEngine: text to image, image to image, SDXL refinement, class to image.

Each call seeds Python, NumPy and torch with its seed first (the reference's `seed_everything`), so one seed gives
one result; results are lists of PIL images (`Samples`) that also carry the seed, the latents and the parameters.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from PIL import Image

from sgm.core.errors import SgmError
from sgm.pipelines import generation as gen
from sgm.pipelines.conditioning import (
    Prompt,
    class_unconditional,
    conditioning_batch,
    conditionings,
    embedder_keys,
)
from sgm.pipelines.images import ImageSource, check_size, fitting_size, image_to_tensor, load_image
from sgm.pipelines.inpainting import MaskSource, check_mask_shape, latent_mask, load_mask
from sgm.pipelines.outputs import finished_images
from sgm.pipelines.progress import Progress, ProgressCallback
from sgm.pipelines.sampler_settings import SamplerSettings, build_sampler
from sgm.pipelines.seeds import check_seed, seed_everything


class Samples(list):
    """Generated images (PIL) with how they were made: `seed`, `latents` (`[N, C, h, w]`, before decoding) and
    `parameters` (model, prompt, seed, sampler, steps, guidance, size, ...: what PNG metadata records)."""

    def __init__(self, images: list[Image.Image], seed: int, latents: torch.Tensor, parameters: dict[str, Any]):
        super().__init__(images)
        self.seed = seed
        self.latents = latents
        self.parameters = parameters


def check_strength(strength: Any) -> float:
    if isinstance(strength, bool) or not isinstance(strength, int | float) or not 0.0 < strength <= 1.0:
        raise SgmError(f"strength must be more than 0 and at most 1 (1 = start from pure noise), got {strength!r}")
    return float(strength)


def check_count(num_samples: Any) -> int:
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise SgmError(f"number of samples must be a positive whole number, got {num_samples!r}")
    return num_samples


class ImagePipeline:
    """Sampling with one engine. `defaults` are a catalog entry's (width, height, sampler, discretization, steps,
    cfg, strength, seed, noise ("torch" | "numpy"), force_uc_zero_embeddings); `size_multiple` defaults to what
    the first stage and UNet can take; `watermark` marks every output (the reference's invisible watermark)."""

    def __init__(
        self,
        engine: Any,
        *,
        name: str = "model",
        defaults: Mapping[str, Any] | None = None,
        size_multiple: int | None = None,
        watermark: bool = True,
    ):
        self.engine = engine.eval()
        self.name = name
        self.defaults = dict(defaults or {})
        self.size_multiple = size_multiple or self.latent_factor * self._network_factor()
        self.watermark = watermark
        self.sampling_mode = "none"  # how the denoiser is called: none, graphs or compile (sgm.pipelines.compiled)
        self.split_guidance = False  # the network once per half of the guidance batch (sgm.pipelines.guidance_split)
        self.noise = self.defaults.get("noise", "torch")
        if self.noise not in gen.NOISE_SOURCES:
            raise SgmError(f"noise source must be one of {', '.join(gen.NOISE_SOURCES)}, got {self.noise!r}")

    @property
    def latent_factor(self) -> int:
        """How much the first stage shrinks each side: 2^(levels - 1) of its decoder, 1 without one."""
        decoder = getattr(self.engine.first_stage_model, "decoder", None)
        return 2 ** (decoder.num_resolutions - 1) if hasattr(decoder, "num_resolutions") else 1

    def _network_factor(self) -> int:
        network = self.engine.model.diffusion_model
        return 2 ** (len(network.channel_mult) - 1) if hasattr(network, "channel_mult") else 1

    @property
    def latent_channels(self) -> int:
        return self.engine.model.diffusion_model.in_channels

    def settings(self, **overrides: Any) -> SamplerSettings:
        """The sampler settings: this model's defaults, then the given (non-None) overrides."""
        try:
            return SamplerSettings.from_options(self.defaults).replace(**overrides)
        except TypeError as error:
            raise SgmError(f"unknown sampling option: {error}") from None

    def conditionings_for(self, prompt: Prompt, n: int, size: tuple[int, int]) -> tuple[dict, dict]:
        """`(cond, uncond)` for `n` samples of `size = (height, width)`: the defaults' zeroed embeddings (not the
        text's when a negative prompt is given) and each class embedder's "no class"."""
        conditioner = self.engine.conditioner
        keys = embedder_keys(conditioner)
        batch, batch_uc = conditioning_batch(keys, prompt, n, size, self.engine.device)
        force_zero = [key for key in self.defaults.get("force_uc_zero_embeddings", ()) if key in keys]
        if prompt.negative_text and "txt" in force_zero:
            force_zero.remove("txt")  # a negative prompt given on purpose is used, not zeroed
        if "cls" in keys:
            force_zero += class_unconditional(conditioner, batch_uc)
        return conditionings(conditioner, batch, batch_uc, force_zero, n, self.engine.device)

    def _sampler(self, settings: SamplerSettings, seed: int, callback: ProgressCallback | None, stage: str):
        sampler = build_sampler(settings, discrete_model=hasattr(self.engine.denoiser, "sigmas"))
        gen.use_noise_source(sampler, self.noise, seed)
        sampler.progress = False  # reported by Progress: a bar on a terminal, lines in a log
        sampler.callback = Progress(self.name, callback, show=settings.progress).for_stage(stage)
        return sampler

    def finish(self, latents: torch.Tensor, seed: int, parameters: dict[str, Any]) -> Samples:
        """Decoded, watermarked (unless turned off) 8-bit images of `latents`, with their parameters."""
        images = finished_images(gen.decode(self.engine, latents), watermark=self.watermark)
        return Samples(images, seed, latents, {"model": self.name, **parameters, "seed": seed, "num": len(images)})

    def default_size(self, width: int | None, height: int | None) -> tuple[int | None, int | None]:
        """The given width and height, or this model's default for either one left None."""
        width = self.defaults.get("width") if width is None else width
        return width, self.defaults.get("height") if height is None else height

    @staticmethod
    def describe(settings: SamplerSettings, **extra: Any) -> dict[str, Any]:
        """The parameters recorded with a result: `extra` and the sampler (a name that gives it back), schedule,
        steps and guidance."""
        sampling = {key: getattr(settings, key) for key in ("discretization", "steps", "guidance")}
        return {**extra, "sampler": settings.sampler_name(), **sampling}

    def sample_latents(
        self,
        prompt: Prompt,
        *,
        width: int,
        height: int,
        num_samples: int,
        settings: SamplerSettings,
        seed: int,
        callback: ProgressCallback | None = None,
        stop_at_strength: float | None = None,
    ) -> torch.Tensor:
        """Latents from noise (seeding first); `stop_at_strength` stops where a refiner takes over."""
        seed_everything(seed)
        cond, uncond = self.conditionings_for(prompt, num_samples, (height, width))
        shape = (num_samples, self.latent_channels, height // self.latent_factor, width // self.latent_factor)
        sampler = self._sampler(settings, seed, callback, "sampling")
        return gen.sample_from_noise(
            self.engine, sampler, cond, uncond, shape, noise=self.noise, seed=seed, stop_at_strength=stop_at_strength,
            mode=self.sampling_mode, split_guidance=self.split_guidance,
        )  # fmt: skip

    def txt2img(
        self,
        prompt: str = "",
        *,
        negative_prompt: str = "",
        width: int | None = None,
        height: int | None = None,
        num_samples: int = 1,
        seed: int | None = None,
        callback: ProgressCallback | None = None,
        original_size: tuple[int, int] | None = None,
        crop_coords_top_left: tuple[int, int] = (0, 0),
        **sampling: Any,
    ) -> Samples:
        """`num_samples` images for `prompt`. sampling: sampler, discretization, steps, guidance, progress and
        the other `SamplerSettings` fields; original_size / crop_coords_top_left: SDXL micro-conditioning
        `(height, width)` / `(top, left)` (default: the image size, no crop)."""
        settings, seed = self.settings(**sampling), check_seed(self.defaults.get("seed") if seed is None else seed)
        width, height = check_size(*self.default_size(width, height), self.size_multiple)
        text = Prompt(prompt, negative_prompt, original_size, tuple(crop_coords_top_left))
        latents = self.sample_latents(
            text, width=width, height=height, num_samples=check_count(num_samples), settings=settings, seed=seed,
            callback=callback,
        )  # fmt: skip
        parameters = self.describe(settings, prompt=prompt, negative_prompt=negative_prompt, width=width,
                                      height=height)  # fmt: skip
        return self.finish(latents, seed, parameters)

    def resample_latents(
        self,
        prompt: Prompt,
        *,
        strength: float,
        settings: SamplerSettings,
        seed: int,
        latents: torch.Tensor | None = None,
        pixels: torch.Tensor | None = None,
        add_noise: bool = True,
        repaint: torch.Tensor | None = None,
        callback: ProgressCallback | None = None,
        stage: str = "sampling",
    ) -> torch.Tensor:
        """Image-to-image from `latents`, or from `pixels` (`[N, C, H, W]` in [-1, 1]) encoded after the
        conditioner ran, as in the reference; `repaint`: a latent mask, True where to inpaint. No seeding here:
        the caller seeds before."""
        source = latents if latents is not None else pixels
        factor = 1 if latents is None else self.latent_factor
        size = (source.shape[2] * factor, source.shape[3] * factor)
        cond, uncond = self.conditionings_for(prompt, source.shape[0], size)
        if latents is None:
            latents = gen.encode(self.engine, pixels)  # may draw: a KL encoder samples its posterior
        sampler = self._sampler(settings, seed, callback, stage)
        return gen.sample_from_latents(
            self.engine, sampler, cond, uncond, latents, strength, add_noise, mode=self.sampling_mode, repaint=repaint,
            split_guidance=self.split_guidance,
        )  # fmt: skip

    def img2img(
        self,
        image: ImageSource | Sequence[ImageSource],
        prompt: str = "",
        *,
        negative_prompt: str = "",
        strength: float | None = None,
        mask: MaskSource | None = None,
        width: int | None = None,
        height: int | None = None,
        num_samples: int = 1,
        seed: int | None = None,
        callback: ProgressCallback | None = None,
        stage: str = "sampling",
        **sampling: Any,
    ) -> Samples:
        """Images that start from `image` (a path, PIL image or uint8 array; a list gives one sample each) noised to
        `strength` (0 < strength <= 1; 1 starts from noise with a trace of the image). The image is resized to
        width x height, default: its own size rounded down to the model's size multiple. `mask` (white = repaint,
        black = keep; the image's shape, resized with it) inpaints: only its white part is sampled (`inpainting`)."""
        settings, seed = self.settings(**sampling), check_seed(self.defaults.get("seed") if seed is None else seed)
        strength = check_strength(self.defaults.get("strength", 0.75) if strength is None else strength)
        sources = list(image) if isinstance(image, list | tuple) else [image] * check_count(num_samples)
        pictures = [load_image(source) for source in sources]
        if width is None and height is None:
            width, height = fitting_size(pictures[0], self.size_multiple)
        width, height = check_size(width, height, self.size_multiple)
        pixels = torch.cat([image_to_tensor(picture, width, height) for picture in pictures])
        repaint = None if mask is None else self.latent_mask(mask, pictures[0].size, width, height)
        text = Prompt(prompt, negative_prompt)
        seed_everything(seed)
        latents = self.resample_latents(
            text, strength=strength, settings=settings, seed=seed, pixels=pixels, repaint=repaint, callback=callback,
            stage=stage,
        )  # fmt: skip
        parameters = self.describe(settings, prompt=prompt, negative_prompt=negative_prompt, width=width,
                                      height=height, strength=strength)  # fmt: skip
        if repaint is not None:
            parameters["inpainted"] = True
        return self.finish(latents, seed, parameters)

    def latent_mask(self, mask: MaskSource, image_size: tuple[int, int], width: int, height: int) -> torch.Tensor:
        """`mask` checked against the init image's `(width, height)` and brought to the latents of a width x height
        sample: True where they are repainted."""
        mask = load_mask(mask)
        check_mask_shape(mask, image_size)
        return latent_mask(mask, width, height, self.latent_factor)

    def refine(
        self, images: Sequence[ImageSource], prompt: str = "", *, strength: float | None = None, **options: Any
    ) -> Samples:
        """SDXL-refiner pass over finished images: image-to-image at `strength` (default: this model's)."""
        return self.img2img(list(images), prompt, strength=strength, stage="refining", **options)

    def sample_classes(
        self,
        labels: Sequence[int],
        *,
        seed: int | None = None,
        callback: ProgressCallback | None = None,
        **sampling: Any,
    ) -> Samples:
        """One image per class label (class-conditional models such as the digits model), guided against the
        embedder's "no class" input."""
        settings, seed = self.settings(**sampling), check_seed(self.defaults.get("seed") if seed is None else seed)
        labels = [int(label) for label in labels]
        width, height = check_size(self.defaults.get("width"), self.defaults.get("height"), self.size_multiple)
        latents = self.sample_latents(
            Prompt(class_labels=labels), width=width, height=height, num_samples=check_count(len(labels)),
            settings=settings, seed=seed, callback=callback,
        )  # fmt: skip
        return self.finish(latents, seed, self.describe(settings, labels=labels, width=width, height=height))

