"""SDXL's two-stage generation: the base model samples the first part of the schedule and hands its still noisy
latents to the refiner, which finishes the last `strength` of it (scripts/demo/sampling.py with the refiner and
"finish denoising": `Txt2NoisyDiscretizationWrapper` on the base, `Img2ImgDiscretizationWrapper` on the refiner).
"""

from collections.abc import Mapping
from typing import Any

from sgm.core.errors import SgmError
from sgm.pipelines.conditioning import Prompt
from sgm.pipelines.progress import ProgressCallback
from sgm.pipelines.image import ImagePipeline, Samples, check_count, check_strength
from sgm.pipelines.seeds import check_seed
from sgm.pipelines.images import check_size

DEFAULT_REFINER_STRENGTH = 0.15  # sampling.py's "Refinement strength"


def txt2img_with_refiner(
    base: ImagePipeline,
    refiner: ImagePipeline,
    prompt: str = "",
    *,
    negative_prompt: str = "",
    width: int | None = None,
    height: int | None = None,
    num_samples: int = 1,
    seed: int | None = None,
    refiner_strength: float | None = None,
    refiner_sampling: Mapping[str, Any] | None = None,
    callback: ProgressCallback | None = None,
    **sampling: Any,
) -> Samples:
    """Images for `prompt`: `base` samples until the noise level where `refiner` (the last `refiner_strength` of
    its schedule) takes over. One seed covers both stages, drawn in the reference's order. sampling /
    refiner_sampling: `SamplerSettings` fields of each stage (defaults: each model's)."""
    if base.latent_channels != refiner.latent_channels or base.latent_factor != refiner.latent_factor:
        raise SgmError(f"{refiner.name} cannot refine {base.name}: their latent spaces differ")
    settings = base.settings(**sampling)
    refiner_settings = refiner.settings(**dict(refiner_sampling or {}))
    seed = check_seed(base.defaults.get("seed") if seed is None else seed)
    strength = base.defaults.get("refiner_strength", DEFAULT_REFINER_STRENGTH)
    strength = check_strength(strength if refiner_strength is None else refiner_strength)
    width, height = check_size(*base.default_size(width, height), base.size_multiple)
    text = Prompt(prompt, negative_prompt)
    noisy = base.sample_latents(
        text, width=width, height=height, num_samples=check_count(num_samples), settings=settings, seed=seed,
        callback=callback, stop_at_strength=strength,
    )  # fmt: skip
    # The refiner sees the image size as original and target size, no crop, and aesthetic scores 6.0 / 2.5.
    latents = refiner.resample_latents(
        text, strength=strength, settings=refiner_settings, seed=seed, latents=noisy, add_noise=False,
        callback=callback, stage="refining",
    )  # fmt: skip
    parameters = base.describe(settings, prompt=prompt, negative_prompt=negative_prompt, width=width, height=height)
    refined = {"refiner": refiner.name, "refiner_strength": strength,
               "refiner_sampler": refiner_settings.sampler_name(), "refiner_steps": refiner_settings.steps,
               "refiner_guidance": refiner_settings.guidance}  # fmt: skip
    samples = refiner.finish(latents, seed, parameters | refined)
    samples.parameters["model"] = base.name
    return samples
