"""What a user asks of a model: one plain record for every task, the boundary between the apps and the pipelines.

The CLI and the web app build a `Request` from their controls and call `sgm.pipelines.run(request)`. Fields left
None take the model's defaults (its config's `sampling:` block). A field the model's task has no use for is refused
(`unused_fields`), never silently dropped.
"""

import dataclasses
from dataclasses import dataclass
from pathlib import Path

_RUNTIME = {"model", "output", "ckpt", "device", "dtype", "attention", "compile", "watermark", "allow_pickle", "seed",
            "steps", "cfg", "offload", "split_guidance", "vram"}  # fmt: skip
_TEXT_TO_IMAGE = {"prompt", "negative_prompt", "sampler", "discretization", "width", "height", "num", "init_image",
                  "strength", "mask", "vae_tiling", "decoding_t"}  # fmt: skip
_VIDEO = {"input", "num_frames", "min_cfg", "decoding_t", "format"}
_OBJECT_FRAMING = {"img_size", "remove_bg", "image_frame_ratio"}
_CAMERAS = {"elevations_deg", "azimuths_deg"}
# The fields each catalog task takes, besides the runtime ones. LoRAs: the text models' UNet and text encoders, and
# SVD's UNet where a file's keys fit it.
TASK_FIELDS: dict[str, frozenset[str]] = {
    "txt2img": frozenset(_TEXT_TO_IMAGE | {"refiner", "refiner_strength", "refiner_ckpt", "loras"}),
    "img2img": frozenset(_TEXT_TO_IMAGE | {"loras"}),
    "class2img": frozenset({"class_label", "num", "sampler", "discretization"}),
    "img2video": frozenset(_VIDEO | {"fps", "motion_bucket_id", "cond_aug", "width", "height", "loras"}),
    "img2orbit": frozenset(_VIDEO | _OBJECT_FRAMING | _CAMERAS | {"cond_aug"}),
    "video2views": frozenset(_VIDEO | _OBJECT_FRAMING | _CAMERAS | {"encoding_t"}),
}


@dataclass(frozen=True)
class Request:
    """One generation. Paths are the user's; numbers are checked against the model before anything loads."""

    model: str = "digits"
    output: Path | None = None  # folder for the results (default: ./outputs/<model>); nothing is ever overwritten
    # what to make
    prompt: str = ""
    negative_prompt: str = ""
    class_label: int | None = None  # class-conditional models (digits: 0-9)
    init_image: Path | None = None  # img2img: the image to start from
    strength: float | None = None  # img2img: share of the schedule re-noised, in (0, 1]
    mask: Path | None = None  # inpainting: an image of init_image's shape, white where to repaint, black to keep
    refiner: str | None = None  # a refiner model to hand the last part of the schedule to (sdxl-refiner)
    refiner_strength: float | None = None
    refiner_ckpt: Path | None = None
    input: Path | None = None  # video models: the image (svd, sv3d) or video (sv4d) to start from
    num: int | None = None  # images per run (default 1)
    loras: tuple[tuple[Path, float], ...] = ()  # (file, weight): a path, or a file name in the LoRA folder
    lora_merge: bool = False  # merge the LoRAs into the weights (faster; other LoRAs later reload the model)
    # sampling
    seed: int | None = None
    steps: int | None = None
    cfg: float | None = None  # guidance scale; 1 or less means none (video: the per-frame ramp's highest)
    min_cfg: float | None = None  # video: the per-frame ramp's lowest guidance scale
    sampler: str | None = None
    discretization: str | None = None
    # size and frames
    width: int | None = None
    height: int | None = None
    img_size: int | None = None  # square object models (sv3d, sv4d): the frame's side
    num_frames: int | None = None
    fps: int | None = None  # svd: the frame rate conditioned on and written at
    motion_bucket_id: int | None = None
    cond_aug: float | None = None
    elevations_deg: float | tuple[float, ...] | None = None
    azimuths_deg: tuple[float, ...] | None = None
    remove_bg: bool | None = None
    image_frame_ratio: float | None = None
    encoding_t: int | None = None  # frames the VAE encodes at once (less memory when lower)
    decoding_t: int | None = None  # frames the VAE decodes at once
    format: str | None = None  # video output: mp4, gif or frames
    # where and how it runs
    ckpt: Path | None = None
    device: str | None = None  # None: cuda when available, else cpu
    dtype: str | None = None  # fp16, bf16, fp32, fp64; None: fp32
    attention: str | None = None  # the sgm.kernels backend for every attention and norm call
    compile: str | None = None  # how sampling calls the network: auto (graphs on CUDA), none, graphs, compile
    # memory (None: chosen by the memory plan to fit `vram`; see planning.py)
    offload: str | None = None  # none, model (each component on the device only while it runs), sequential
    vae_tiling: bool | None = None  # images: decode in overlapping tiles
    split_guidance: bool | None = None  # the network once per half of the guidance batch (about half a step's memory)
    vram: float | None = None  # the device memory budget in GB (2^30 bytes); None: the device's free memory
    watermark: bool = True
    allow_pickle: bool = False

    def given(self) -> dict[str, object]:
        """The fields the user set (not None, not an empty prompt or LoRA list), with their values."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if not _unset(getattr(self, f.name)) and f.name not in ("watermark", "allow_pickle", "lora_merge")
        }

    def replace(self, **changes: object) -> "Request":
        return dataclasses.replace(self, **changes)


def _unset(value: object) -> bool:
    return value is None or (isinstance(value, str | tuple) and len(value) == 0)


def unused_fields(request: Request, task: str) -> list[str]:
    """The fields `request` sets that a model of `task` has no use for, sorted."""
    return sorted(set(request.given()) - TASK_FIELDS[task] - _RUNTIME)
