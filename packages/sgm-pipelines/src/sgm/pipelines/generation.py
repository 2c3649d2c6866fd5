"""The sampling steps of the reference's `do_sample` / `do_img2img` (scripts/demo/streamlit_helpers.py) on a
DiffusionEngine, in the reference's order of random draws: seed, conditioner, (encoder,) starting noise, sampler.

The engine is duck-typed: `conditioner`, `denoise`, `first_stage_model`, `encode_first_stage`,
`decode_first_stage`, `device`.
"""

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from sgm.core.diffusion.discretization import Img2ImgDiscretizationWrapper, Txt2NoisyDiscretizationWrapper
from sgm.core.diffusion.tensor_shapes import append_dims
from sgm.pipelines.compiled import sampling_denoiser, sampling_scope
from sgm.pipelines.inpainting import InpaintingDenoiser
from sgm.pipelines.turbo import SeededNoise, numpy_randn

NOISE_SOURCES = ("torch", "numpy")


def use_noise_source(sampler: Any, noise: str, seed: int) -> None:
    """With "numpy" the sampler's per-step noise is turbo.py's `SeededNoise(seed)`; "torch" keeps torch's own."""
    if noise == "numpy" and hasattr(sampler, "noise_sampler"):
        sampler.noise_sampler = SeededNoise(seed)


@torch.no_grad()
def sample_from_noise(
    engine: Any,
    sampler: Any,
    cond: dict,
    uncond: dict,
    shape: tuple[int, ...],
    *,
    noise: str = "torch",
    seed: int | None = None,
    stop_at_strength: float | None = None,
    mode: str = "none",
    split_guidance: bool = False,
) -> torch.Tensor:
    """Latents sampled from unit noise of `shape` (drawn on the CPU, then moved, as the reference).
    stop_at_strength: end early at the noise level a refiner continues from with this strength (SDXL's base-to-
    refiner handoff, `Txt2NoisyDiscretizationWrapper`); `noise="numpy"` draws the start as turbo.py does; `mode`:
    how the denoiser is called (`sgm.pipelines.compiled`); `split_guidance`: the network once per half of the
    guidance batch (`sgm.pipelines.guidance_split`)."""
    if stop_at_strength is not None:
        sampler.discretization = Txt2NoisyDiscretizationWrapper(
            sampler.discretization, strength=stop_at_strength, original_steps=sampler.num_steps
        )
    start = numpy_randn(shape, seed) if noise == "numpy" else torch.randn(shape)
    with sampling_scope(mode):
        denoiser = sampling_denoiser(engine, mode, sampler.guider if split_guidance else None)
        return sampler(denoiser, start.to(engine.device), cond=cond, uc=uncond)


@torch.no_grad()
def sample_from_latents(
    engine: Any,
    sampler: Any,
    cond: dict,
    uncond: dict,
    latents: torch.Tensor,
    strength: float,
    add_noise: bool = True,
    mode: str = "none",
    repaint: torch.Tensor | None = None,
    split_guidance: bool = False,
) -> torch.Tensor:
    """Latents resampled from `latents` over the last `strength` of the schedule (image-to-image).

    The start is (z + sigma_0 eps) / sqrt(1 + sigma_0^2), unit-variance scaled as the samplers expect; with
    `add_noise=False` the latents already carry noise of level sigma_0 (a base model's handoff) and are only
    scaled. eps is drawn either way, keeping the reference's order of random draws. `repaint` (a bool latent mask,
    with `add_noise`) inpaints: only where it is True is sampled, elsewhere stays z (`inpainting`); `mode` and
    `split_guidance` as in `sample_from_noise`.
    """
    sampler.discretization = Img2ImgDiscretizationWrapper(sampler.discretization, strength=strength)
    eps = torch.randn_like(latents)
    sigmas = sampler.discretization(sampler.num_steps)
    sigma = sigmas[0].to(latents.device)
    start = latents + eps * append_dims(sigma, latents.ndim) if add_noise else latents
    start = start / torch.sqrt(1.0 + sigma**2.0)
    with sampling_scope(mode):
        denoiser = sampling_denoiser(engine, mode, sampler.guider if split_guidance else None)
        if repaint is None:
            return sampler(denoiser, start, cond=cond, uc=uncond)
        inpainting = InpaintingDenoiser(denoiser, latents, eps, repaint)
        return inpainting.blend(sampler(inpainting, start, cond=cond, uc=uncond))


def module_dtype(module: torch.nn.Module, default: torch.dtype = torch.float32) -> torch.dtype:
    """The dtype of the module's first floating-point parameter (default when it has none)."""
    return next((p.dtype for p in module.parameters() if p.is_floating_point()), default)


@contextlib.contextmanager
def vae_samples_at_a_time(engine: Any, count: int | None) -> Iterator[None]:
    """Within the block, the engine's first stage encodes and decodes `count` samples at a time (its
    `en_and_decode_n_samples_a_time`: less memory for a batch, the same images); None leaves the model's own."""
    if count is None:
        yield
        return
    own = engine.en_and_decode_n_samples_a_time
    engine.en_and_decode_n_samples_a_time = count
    try:
        yield
    finally:
        engine.en_and_decode_n_samples_a_time = own


@torch.no_grad()
def encode(engine: Any, pixels: torch.Tensor) -> torch.Tensor:
    """Images `[N, C, H, W]` in [-1, 1] to float32 latents through the engine's first stage."""
    first_stage = engine.first_stage_model
    return engine.encode_first_stage(pixels.to(engine.device, module_dtype(first_stage))).float()


@torch.no_grad()
def decode(engine: Any, latents: torch.Tensor) -> torch.Tensor:
    """Latents to images in [0, 1], float32 (`clamp((x + 1) / 2)` of the decoder output)."""
    decoded = engine.decode_first_stage(latents.to(module_dtype(engine.first_stage_model)))
    return torch.clamp((decoded.float() + 1.0) / 2.0, min=0.0, max=1.0)
