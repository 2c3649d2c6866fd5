"""Everything about a request that can be checked without loading a model, checked before anything loads or is
written: fields the model has no use for, numbers, names, input files, checkpoints, the output folder. Each problem
is one SgmError saying what is wrong and what to do."""

import math
import os
from pathlib import Path
from typing import Any

from sgm.core.checkpoint import parse_dtype
from sgm.core.errors import SgmError
from sgm.core.image_files import image_file_size
from sgm.core.watermark import read_image
from sgm.pipelines import catalog
from sgm.pipelines.inpainting import check_mask_shape, load_mask
from sgm.pipelines.loras import check_loras
from sgm.pipelines.offloading import OFFLOAD_MODES
from sgm.pipelines.request import TASK_FIELDS, Request, unused_fields
from sgm.pipelines.sampler_settings import SamplerSettings
from sgm.pipelines.seeds import check_seed
from sgm.video import camera
from sgm.video.io import FORMATS, load_frames, rembg_available, rembg_model_path, take_frames
from sgm.video.io.background import MODEL_NAME
from sgm.video.schedules import autoregressive_plan, sv4d_plan

_POSITIVE_INTS = ("steps", "num", "num_frames", "fps", "encoding_t", "decoding_t", "img_size", "width", "height")
_NON_NEGATIVE = ("cfg", "min_cfg", "cond_aug")
_FRACTIONS = ("strength", "refiner_strength", "image_frame_ratio")  # in (0, 1]
# Upper bounds far above any real use, so a mistyped number (`--steps 1000000000000`, `--num 100000000`) is one line
# instead of an allocation that takes the machine down. Sizes and frame counts are bounded by the model's own.
MAX_STEPS = 1000  # the DDPM models' own number of timesteps
MAX_NUM = 100
MAX_SCALE = 4  # sides, pixels and frames up to 4x the model's defaults (SDXL: 4096 a side, 2048x2048 pixels)
MIN_BOUND_SIDE, MIN_BOUND_FRAMES = 1024, 64  # but never below these (small and test models)


def check_request(request: Request) -> Request:
    """`request` checked against its model; returns it with the output folder and checkpoint paths filled in."""
    entry = catalog.get_entry(request.model)
    check_shape_options(request)
    check_seed(request.seed if request.seed is not None else entry.defaults.get("seed"))
    if entry.is_video:
        _check_video(entry, request)
    else:
        _check_image(entry, request)
    _check_limits(entry, request)
    ckpt = catalog.find_checkpoint(entry.name, request.ckpt)
    refiner = catalog.get_entry(request.refiner).name if request.refiner else None
    refiner_ckpt = catalog.find_checkpoint(refiner, request.refiner_ckpt) if refiner else None
    loras = check_loras(entry.name, ckpt, request.loras, allow_pickle=request.allow_pickle)
    output = Path(request.output) if request.output is not None else Path("outputs") / entry.name
    check_output_folder(output)
    return request.replace(model=entry.name, refiner=refiner, output=output, ckpt=ckpt, refiner_ckpt=refiner_ckpt,
                           loras=loras)  # fmt: skip


def check_shape_options(request: Request) -> Request:
    """What the memory plan needs checked (no files read): fields the model takes, numbers, sizes, dtype and the
    memory options. Returns `request`."""
    entry = catalog.get_entry(request.model)
    unused = unused_fields(request, entry.task)
    if unused:
        raise SgmError(f"{entry.name} is a {entry.task} model and takes no {', '.join(unused)}")
    _check_numbers(request)
    if request.dtype is not None:
        parse_dtype(request.dtype)
    for name in ("width", "height"):
        value = getattr(request, name)
        if value is not None and value % entry.size_multiple:
            raise SgmError(f"{name} {value}: {entry.name} needs a multiple of {entry.size_multiple}")
    if request.offload is not None and request.offload not in OFFLOAD_MODES:
        raise SgmError(f"offload must be one of {', '.join(OFFLOAD_MODES)}, got {request.offload!r}")
    if request.vram is not None and not (isinstance(request.vram, int | float) and 0 < request.vram < math.inf):
        raise SgmError(f"vram must be a positive number of GB, got {request.vram!r}")
    return request


def check_output_folder(folder: Path) -> None:
    """The folder exists or can be made, and is writable."""
    if folder.exists() and not folder.is_dir():
        raise SgmError(f"output {folder} is a file, not a folder: give a folder with --output")
    existing = next(p for p in (folder, *folder.absolute().parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise SgmError(f"cannot write results under {folder}: {existing} is not a writable folder")


def _check_numbers(request: Request) -> None:
    for key in _POSITIVE_INTS:
        value = getattr(request, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise SgmError(f"{key} must be a positive whole number, got {value!r}")
    for key in _NON_NEGATIVE:
        value = getattr(request, key)
        if value is not None and not (isinstance(value, int | float) and 0 <= value < math.inf):
            raise SgmError(f"{key} must be a finite number, 0 or more, got {value!r}")
    for key in _FRACTIONS:
        value = getattr(request, key)
        if value is not None and not (isinstance(value, int | float) and 0 < value <= 1):
            raise SgmError(f"{key} must be more than 0 and at most 1, got {value!r}")
    if request.motion_bucket_id is not None and not 0 <= request.motion_bucket_id <= 1023:
        raise SgmError(f"motion_bucket_id must be in [0, 1023], got {request.motion_bucket_id}")
    if request.format is not None and request.format not in FORMATS:
        raise SgmError(f"format must be one of {', '.join(FORMATS)}, got {request.format!r}")


def _check_limits(entry: catalog.ModelEntry, request: Request) -> None:
    """Steps, number of images, sizes and frames within `MAX_*` (after the other checks, so the init image is known
    to be readable; its size is read from its header)."""
    defaults = entry.defaults
    bounds = {"steps": MAX_STEPS, "num": MAX_NUM}
    if defaults.get("num_frames"):
        bounds["num_frames"] = max(MAX_SCALE * int(defaults["num_frames"]), MIN_BOUND_FRAMES)
    if defaults.get("img_size"):  # square: 4x the pixels is 2x the side
        bounds["img_size"] = max(MAX_SCALE // 2 * int(defaults["img_size"]), MIN_BOUND_SIDE)
    for key, most in bounds.items():
        value = getattr(request, key)
        if value is not None and value > most:
            raise SgmError(f"{key} {value} is more than {entry.name} can take: at most {most}")
    if not (defaults.get("width") and defaults.get("height")) or "width" not in TASK_FIELDS[entry.task]:
        return
    width, height = request.width, request.height
    source = "--width/--height"
    if request.init_image is not None and width is None and height is None:
        width, height = image_file_size(request.init_image, "init image")
        source = f"the init image {request.init_image}"
    width, height = width or int(defaults["width"]), height or int(defaults["height"])
    most_side = max(MAX_SCALE * max(int(defaults["width"]), int(defaults["height"])), MIN_BOUND_SIDE)
    most_pixels = max(MAX_SCALE * int(defaults["width"]) * int(defaults["height"]), MIN_BOUND_SIDE**2)
    if max(width, height) > most_side or width * height > most_pixels:
        raise SgmError(
            f"{width}x{height} (from {source}) is more than {entry.name} can sample: at most {most_side} a side and "
            f"{most_pixels / 1e6:.1f} MP; give a smaller --width and --height"
        )


def _check_image(entry: catalog.ModelEntry, request: Request) -> None:
    options = {**entry.defaults, **{k: v for k, v in (("steps", request.steps), ("cfg", request.cfg),
               ("sampler", request.sampler), ("discretization", request.discretization)) if v is not None}}
    if request.cfg is not None:
        options.pop("guidance", None)
    SamplerSettings.from_options(options)  # unknown names and bad numbers: an SgmError listing what is valid
    if request.class_label is not None:
        classes = entry.defaults.get("num_classes")
        if isinstance(request.class_label, bool) or not isinstance(request.class_label, int) or not (
                0 <= request.class_label < classes):
            raise SgmError(f"class must be a whole number from 0 to {classes - 1} for {entry.name}, "
                           f"got {request.class_label!r}")  # fmt: skip
    if entry.task == "img2img" and request.init_image is None:
        raise SgmError(f"{entry.name} refines an image: give it with --init-image PATH")
    if request.mask is not None and request.init_image is None:
        raise SgmError("a mask says what to repaint in an init image: give the image with --init-image PATH")
    if request.init_image is not None:
        image = read_image(request.init_image)  # unreadable or missing: one clear line
        if request.mask is not None:
            check_mask_shape(load_mask(request.mask), image.size)  # unreadable, too large or misshapen: one line
    if request.refiner is not None:
        refiner = catalog.get_entry(request.refiner)
        if refiner.task != "img2img":
            raise SgmError(f"refiner {refiner.name} is a {refiner.task} model, not a refiner")


def _check_video(entry: catalog.ModelEntry, request: Request) -> None:
    sampling = entry.defaults
    if request.input is None:
        what = "a video" if entry.task == "video2views" else "an image"
        raise SgmError(f"{entry.name} generates from {what}: give it with --input PATH")
    fixed_orbit = entry.task == "img2orbit" and sampling.get("cameras") != "posed"
    if fixed_orbit and (request.elevations_deg is not None or request.azimuths_deg is not None):
        raise SgmError(f"{entry.name} makes a fixed orbit; use sv3d-p to choose elevations and azimuths")
    if not fixed_orbit and entry.task != "img2video":
        count = _camera_count(sampling, request)
        elevations = request.elevations_deg
        camera.elevations(sampling.get("elevations_deg") if elevations is None else elevations, count)
        camera.azimuths(request.azimuths_deg, count)
    if request.remove_bg:
        _check_rembg()
    if entry.task == "video2views":
        needed = request.num_frames or int(sampling["num_frames"])
        plan = sv4d_plan if sampling.get("schedule") == "anchor_dense" else autoregressive_plan
        plan(needed, int(sampling["frames_per_pass"]))  # a frame count the schedule cannot cover is an error
        take_frames(load_frames(request.input, max_frames=needed), needed, f"the input {request.input}")
    else:
        load_frames(request.input, max_frames=1)


def _camera_count(sampling: Any, request: Request) -> int:
    """How many elevations / azimuths a model takes: one per orbit frame (SV3D_p), SV4D's 21-view SV3D orbit,
    or SV4D 2.0's input view and novel views."""
    if sampling.get("cameras") == "posed":
        return request.num_frames or int(sampling["num_frames"])
    if sampling.get("schedule") == "autoregressive":
        return int(sampling["views"]) + 1
    return camera.SV3D_ORBIT_VIEWS


def _check_rembg() -> None:
    if not rembg_available():
        raise SgmError(
            f"--remove-bg needs the optional rembg package (pip install rembg onnxruntime) and, offline, its "
            f"model file {MODEL_NAME}.onnx in U2NET_HOME (now {rembg_model_path().parent})"
        )
    if not rembg_model_path().is_file():
        raise SgmError(
            f"--remove-bg needs rembg's model file {rembg_model_path()}: set U2NET_HOME to the folder holding "
            f"{MODEL_NAME}.onnx (it cannot be downloaded offline)"
        )
