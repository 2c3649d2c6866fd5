"""One pass over each stage of a generation, through the pipelines' own methods, with stand-in inputs of the right
shapes: conditioning, VAE encode (img2img), one sampling step with its guidance batch, VAE decode (one chunk); for
a generation that runs two models (`probe_parts`), each model's stages.

The same probe runs on shape-only (meta) tensors to plan memory and on real CPU tensors to check the plan. A
`stage(name, component)` context manager given by the caller brackets each stage; `component` names the weights the
stage needs on the device ("conditioner", "first_stage", "network"). Tensors the pipeline keeps on the host (SV4D's
frame grid) are made before the probe runs, so a tracker of device memory never sees them.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ContextManager

import numpy as np
import torch

from sgm.core.inference import constant_context
from sgm.pipelines import generation as gen
from sgm.pipelines.compiled import sampling_denoiser
from sgm.pipelines.conditioning import Prompt, embedder_keys
from sgm.pipelines.image import ImagePipeline
from sgm.pipelines.image_to_video import IMAGE_KEYS
from sgm.pipelines.progress import Progress
from sgm.pipelines.vae_tiling import tiled_vae_decoding
from sgm.pipelines.video_to_4d import VideoTo4DPipeline, _Run
from sgm.video import camera
from sgm.video.schedules import autoregressive_plan, sv4d_plan

StageBracket = Callable[[str, str], ContextManager]


@dataclass(frozen=True)
class ProbeShape:
    """The sizes a generation runs at: image `width` x `height` (square video models: `img_size`), `batch` images,
    `frames` video frames (SV4D: input frames), and the chunking options (`split_guidance`: the network once per
    half of the guidance batch); `cfg`: an image model's guidance scale (None: its default; <= 1 has no guidance
    batch); `decodes` False: the latents go on to a refiner, which decodes them."""

    width: int
    height: int
    batch: int = 1
    frames: int = 1
    img2img: bool = False
    vae_tiling: bool = False
    encoding_t: int | None = None
    decoding_t: int | None = None
    split_guidance: bool = False
    cfg: float | None = None
    decodes: bool = True


def probe_parts(pipeline: Any, shape: ProbeShape, refiner: ImagePipeline | None = None) -> list[tuple[Any, ProbeShape]]:
    """The pipelines a generation runs, in order, each with the shape it runs at: SV4D's reference-views model first
    (SV3D_u's orbit of the first frame, at SV4D's size and decoding chunk), then the model; a `refiner` after it,
    finishing the same batch (from the model's latents, or from its images for img2img) and decoding in its place."""
    reference = getattr(pipeline, "reference_views", None)
    parts = []
    if reference is not None:
        orbit = ProbeShape(shape.width, shape.height, frames=camera.SV3D_ORBIT_VIEWS, decoding_t=shape.decoding_t,
                           split_guidance=shape.split_guidance)  # fmt: skip
        parts.append((reference, orbit))
    parts.append((pipeline, replace(shape, decodes=refiner is None or shape.img2img)))
    if refiner is not None:
        parts.append((refiner, shape))
    return parts


def run_image_probe(pipeline: ImagePipeline, shape: ProbeShape, stage: StageBracket) -> None:
    """Text (or class) conditioning, VAE encode for img2img, one guided step, the VAE decode of the batch (`decoding_t`
    images at a time, both ways)."""
    engine, n = pipeline.engine, shape.batch
    factor = pipeline.latent_factor
    latent_shape = (n, pipeline.latent_channels, shape.height // factor, shape.width // factor)
    prompt = Prompt(class_labels=[0] * n) if "cls" in embedder_keys(engine.conditioner) else Prompt("")
    with stage("conditioning", "conditioner"):
        cond, uncond = pipeline.conditionings_for(prompt, n, (shape.height, shape.width))
    if shape.img2img:
        with stage("vae encode", "first_stage"), gen.vae_samples_at_a_time(engine, shape.decoding_t):
            pixels = torch.zeros(n, 3, shape.height, shape.width, device=engine.device)
            latents = gen.encode(engine, pixels)
            del pixels
    else:
        latents = torch.zeros(latent_shape, device=engine.device)
    with stage("sampling step", "network"), constant_context():
        sampler = pipeline._sampler(pipeline.settings(guidance=shape.cfg), 0, None, "sampling")
        denoise = sampling_denoiser(engine, "none", sampler.guider if shape.split_guidance else None)
        sampler.denoise(latents, denoise, latents.new_ones(n), cond, uncond)
    del cond, uncond
    if shape.decodes:
        with stage("vae decode", "first_stage"), tiled_vae_decoding(engine.first_stage_model, shape.vae_tiling), \
                gen.vae_samples_at_a_time(engine, shape.decoding_t):
            gen.decode(engine, latents)


def video_probe_host_inputs(pipeline: Any, shape: ProbeShape) -> dict[str, Any]:
    """What the video pipelines keep on the host during a pass: SV4D's frame grid (input view and novel views)."""
    if not isinstance(pipeline, VideoTo4DPipeline):
        return {}
    views = int(pipeline.sampling["views"])
    return {"grid": torch.empty(pipeline.frames_per_pass + 1, views + 1, 3, shape.height, shape.width)}


def run_video_probe(pipeline: Any, shape: ProbeShape, stage: StageBracket, host: dict[str, Any]) -> None:
    """Image (SV4D: video and views) conditioning, one guided step over a pass's frames, one decoding chunk."""
    engine, device = pipeline.engine, pipeline.device
    pipeline.split_guidance = shape.split_guidance  # the pipeline's own denoiser, split as the shape says
    if isinstance(pipeline, VideoTo4DPipeline):
        with stage("conditioning", "conditioner"):
            cond, uncond, denoise, frames = _video_4d_conditioning(pipeline, shape, host["grid"])
    else:
        frames = shape.frames
        with stage("conditioning", "conditioner"):
            cond, uncond = _image_conditioning(pipeline, shape)
        denoise = pipeline.denoiser(frames, False, None, None)
    latents = torch.zeros(pipeline.latent_shape(frames, shape.height, shape.width), device=device)
    with stage("sampling step", "network"), constant_context():
        sampler = pipeline.sampler(None, frames, None, None, Progress(pipeline.name, None, show=False))
        sampler.denoise(latents, denoise, latents.new_ones(frames), cond, uncond)
    decoding_t = min(shape.decoding_t or frames, frames)
    with stage("vae decode", "first_stage"):
        dtype = next(engine.first_stage_model.parameters()).dtype
        engine.en_and_decode_n_samples_a_time = decoding_t
        decoded = engine.decode_first_stage(latents[:decoding_t].to(device, dtype)).float()
        torch.clamp((decoded + 1.0) / 2.0, 0.0, 1.0)


def _image_conditioning(pipeline: Any, shape: ProbeShape) -> tuple[dict, dict]:
    """SVD / SV3D: the conditioning image and one number per frame for every other embedder, as `_sample` builds
    them, through the pipeline's conditioner, repeated per frame."""
    frames = shape.frames
    image = torch.zeros(1, 3, shape.height, shape.width, device=pipeline.device, dtype=pipeline.value_dtype)
    batch: dict[str, Any] = {"num_video_frames": frames}
    for key in embedder_keys(pipeline.engine.conditioner):
        batch[key] = image.clone() if key in IMAGE_KEYS else pipeline.batch_value(0.0, frames)
    batch_uc = {k: v.clone() for k, v in batch.items() if isinstance(v, torch.Tensor)}
    cond, uncond = pipeline.conditionings(batch, batch_uc, IMAGE_KEYS)
    return pipeline.repeat_per_frame(cond, frames), pipeline.repeat_per_frame(uncond, frames)


def _video_4d_conditioning(pipeline: VideoTo4DPipeline, shape: ProbeShape, grid: torch.Tensor):
    """SV4D: the conditioning of the widest pass of its schedule, through the pipeline's own `_conditioning`."""
    views = int(pipeline.sampling["views"])
    per_pass = pipeline.frames_per_pass
    if pipeline.sampling["schedule"] == "anchor_dense":
        sampling_pass = sv4d_plan((per_pass - 1) * per_pass + 1, per_pass).dense[0].forward  # its only length
    else:
        sampling_pass = autoregressive_plan(per_pass + 1, per_pass)[-1]
    count = len(sampling_pass.frames) * views
    run = _Run(steps=1, cfg=None, min_cfg=None, encoding_t=shape.encoding_t or count, decoding_t=1,
               cameras=(np.zeros(count), np.zeros(count)), progress=Progress(pipeline.name, None, show=False))  # fmt: skip
    cond, uncond, denoise = pipeline._conditioning(grid, sampling_pass, True, run)
    return cond, uncond, denoise, count
