"""Which request options each video pipeline takes, and the checks that need no model: callers run
`check_request` before loading anything, so bad input is one clear error and nothing is written."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sgm.video import camera
from sgm.video.errors import VideoInputError
from sgm.video.io import FORMATS, load_frames, rembg_available, rembg_model_path, take_frames
from sgm.video.io.background import MODEL_NAME
from sgm.video.schedules import autoregressive_plan, sv4d_plan

_SAMPLING = {"steps", "cfg", "min_cfg", "seed", "format", "device", "dtype"}
_FRAMING = {"image_frame_ratio", "remove_bg", "img_size"}
# The options of each pipeline kind (`sampling.pipeline` in a model's config).
OPTIONS_BY_KIND: Mapping[str, frozenset[str]] = {
    "image_to_video": frozenset(_SAMPLING | {"num_frames", "fps", "motion_bucket_id", "cond_aug", "decoding_t",
                                             "width", "height"}),
    "orbit": frozenset(_SAMPLING | _FRAMING | {"num_frames", "cond_aug", "decoding_t"}),
    "orbit_posed": frozenset(_SAMPLING | _FRAMING | {"num_frames", "cond_aug", "decoding_t", "elevations_deg",
                                                     "azimuths_deg"}),
    "video_to_4d": frozenset(_SAMPLING | _FRAMING | {"num_frames", "encoding_t", "decoding_t", "elevations_deg",
                                                     "azimuths_deg"}),
}  # fmt: skip
_POSITIVE_INTS = ("steps", "num_frames", "fps", "encoding_t", "decoding_t", "img_size", "width", "height")


def unsupported_options(kind: str, options: Mapping[str, Any]) -> list[str]:
    """The names in `options` (set, not None) that a `kind` pipeline does not take, sorted."""
    return sorted(key for key, value in options.items() if value is not None and key not in OPTIONS_BY_KIND[kind])


def camera_count(sampling: Mapping[str, Any], options: Mapping[str, Any]) -> int:
    """How many elevations / azimuths a model takes: one per orbit frame (SV3D_p), SV4D's 21-view SV3D orbit,
    or SV4D 2.0's input view and novel views."""
    if sampling["pipeline"] == "orbit_posed":
        return options.get("num_frames") or int(sampling["num_frames"])
    if sampling.get("schedule") == "autoregressive":
        return int(sampling["views"]) + 1
    return camera.SV3D_ORBIT_VIEWS


def _check_numbers(options: Mapping[str, Any]) -> None:
    for key in _POSITIVE_INTS:
        value = options.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise VideoInputError(f"{key} must be a positive whole number, got {value!r}")
    for key in ("cfg", "min_cfg", "cond_aug"):
        value = options.get(key)
        if value is not None and not value >= 0:
            raise VideoInputError(f"{key} must be 0 or more, got {value!r}")
    motion = options.get("motion_bucket_id")
    if motion is not None and not 0 <= motion <= 1023:
        raise VideoInputError(f"motion_bucket_id must be in [0, 1023], got {motion}")
    ratio = options.get("image_frame_ratio")
    if ratio is not None and not 0 < ratio <= 1:
        raise VideoInputError(f"image_frame_ratio must be in (0, 1], got {ratio}")
    if options.get("format") is not None and options["format"] not in FORMATS:
        raise VideoInputError(f"format must be one of {', '.join(FORMATS)}, got {options['format']!r}")


def check_request(
    sampling: Mapping[str, Any], source: str | Path | None, options: Mapping[str, Any], name: str = "this model"
) -> None:
    """Raises VideoInputError for what a model with this `sampling` block cannot take: options of another kind,
    bad numbers, cameras of the wrong count or order, an unreadable input or one with too few frames, and
    `remove_bg` without rembg and its model file. Reads the input's frames; loads no model."""
    kind = sampling["pipeline"]
    unsupported = unsupported_options(kind, options)
    if unsupported:
        size_hint = "; set the square size with img_size" if {"width", "height"} & set(unsupported) and (
            "img_size" in OPTIONS_BY_KIND[kind]) else ""
        raise VideoInputError(f"{name} ({kind}) does not take {', '.join(unsupported)}{size_hint}")
    _check_numbers(options)
    if kind in ("orbit_posed", "video_to_4d"):
        count = camera_count(sampling, options)
        elevations = options.get("elevations_deg")
        camera.elevations(sampling["elevations_deg"] if elevations is None else elevations, count)
        camera.azimuths(options.get("azimuths_deg"), count)
    if options.get("remove_bg"):
        if not rembg_available():
            raise VideoInputError(
                f"--remove-bg needs the optional rembg package (pip install rembg onnxruntime) and, offline, its "
                f"model file {MODEL_NAME}.onnx in U2NET_HOME (now {rembg_model_path().parent})"
            )
        if not rembg_model_path().is_file():
            raise VideoInputError(
                f"--remove-bg needs rembg's model file {rembg_model_path()}: set U2NET_HOME to the folder holding "
                f"{MODEL_NAME}.onnx (it cannot be downloaded offline)"
            )
    if source is None:
        raise VideoInputError(f"{name} needs an input: an image (svd, sv3d) or a video (sv4d) path")
    if kind == "video_to_4d":
        needed = options.get("num_frames") or int(sampling["n_frames"])
        plan = sv4d_plan if sampling.get("schedule") == "anchor_dense" else autoregressive_plan
        plan(needed, int(sampling["frames_per_pass"]))  # a frame count the schedule cannot cover is an error
        take_frames(load_frames(source, max_frames=needed), needed, f"the input {source}")
    else:
        load_frames(source, max_frames=1)
