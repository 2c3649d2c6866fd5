"""The video options of `sgm sample` (SVD, SV3D, SV4D): the flags, their per-model defaults in `--help` (from the
catalog), and the check that each flag given fits the chosen model's task."""

import argparse
from dataclasses import dataclass
from typing import Any

VIDEO_TASKS = ("img2video", "img2orbit", "video2views")
ORBIT_AND_4D = ("img2orbit", "video2views")


@dataclass(frozen=True)
class VideoFlag:
    flag: str
    help: str
    tasks: tuple[str, ...]  # catalog tasks that take it
    default_key: str | None = None  # the catalog defaults entry shown in --help
    kwargs: tuple[tuple[str, Any], ...] = (("type", int),)

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


FLAGS = (
    VideoFlag("--num-frames", "frames to generate (SVD, SV3D), or input frames to use (SV4D)", VIDEO_TASKS,
              "num_frames"),
    VideoFlag("--fps", "frame rate the video is conditioned on and written at (SVD)", ("img2video",), "fps"),
    VideoFlag("--motion-bucket-id", "amount of motion, 0-1023, more with higher values (SVD)", ("img2video",),
              "motion_bucket_id"),
    VideoFlag("--cond-aug", "noise added to the conditioning image (SVD, SV3D)", ("img2video", "img2orbit"),
              "cond_aug", (("type", float),)),
    VideoFlag("--min-cfg", "guidance scale at the low end of the per-frame ramp (--cfg is the high end)",
              VIDEO_TASKS, "min_cfg", (("type", float),)),
    VideoFlag("--elevations-deg", "camera elevation(s) in degrees: one value, or one per view (21 for sv3d-p); "
              "default: sv3d-p and sv4d 10, sv4d2 0 (not for svd, sv3d-u)", ORBIT_AND_4D, None,
              (("type", float), ("nargs", "+"), ("metavar", "DEG"))),
    VideoFlag("--azimuths-deg", "camera azimuths in degrees, one per view (21 for sv3d-p), going round in "
              "increasing order and ending at the input view; default: an even orbit", ORBIT_AND_4D, None,
              (("type", float), ("nargs", "+"), ("metavar", "DEG"))),
    VideoFlag("--encoding-t", "frames the VAE encodes at once; lower saves memory (SV4D)", ("video2views",),
              "encoding_t"),
    VideoFlag("--decoding-t", "frames the VAE decodes at once; lower saves memory", VIDEO_TASKS, "decoding_t"),
    VideoFlag("--img-size", "square frame size in pixels (SV3D, SV4D)", ORBIT_AND_4D, "img_size"),
    VideoFlag("--remove-bg", "cut the object out with rembg first (needs its model file in $U2NET_HOME offline)",
              ORBIT_AND_4D, None, (("action", "store_true"), ("default", None))),
    VideoFlag("--image-frame-ratio", "fraction of the frame the centred object spans, in (0, 1]", ORBIT_AND_4D,
              None, (("type", float),)),
    VideoFlag("--format", "video output: mp4 (default), gif or frames (a folder of PNGs per video)", VIDEO_TASKS,
              None, (("choices", ("mp4", "gif", "frames")),)),
)
# Flags of image models (argparse dest and the value that means "not given").
IMAGE_ONLY = {"prompt": "", "negative_prompt": "", "sampler": None, "discretization": None, "num": 1,
              "strength": None, "refiner": None, "refiner_strength": None, "class_label": None}  # fmt: skip


def _catalog_default(entry, key: str) -> Any:
    defaults = entry.defaults
    if key == "fps":
        return defaults["fps_id"] + 1 if "fps_id" in defaults else None
    if key == "img_size":
        return defaults.get("width")
    return defaults.get(key)


def _defaults_text(flag: VideoFlag) -> str:
    """`default: 14 (svd, svd-image-decoder), 25 (svd-xt, ...)` from the catalog entries that take the flag."""
    from sgm.core.catalog import CATALOG

    by_value: dict[Any, list[str]] = {}
    for entry in CATALOG.values():
        value = _catalog_default(entry, flag.default_key) if entry.task in flag.tasks else None
        if value is not None:
            by_value.setdefault(value, []).append(entry.name)
    return "; default: " + ", ".join(f"{value} ({', '.join(names)})" for value, names in by_value.items())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("video models (svd*, sv3d-*, sv4d*)")
    for flag in FLAGS:
        text = flag.help + (_defaults_text(flag) if flag.default_key else "")
        group.add_argument(flag.flag, help=text, **dict(flag.kwargs))


def request_options(entry, args: argparse.Namespace) -> dict[str, Any]:
    """The video flags given, as SampleRequest.options; a flag the model's task does not take is an SgmError."""
    from sgm.core.errors import SgmError

    given = {flag: getattr(args, flag.dest) for flag in FLAGS if getattr(args, flag.dest) is not None}
    if entry.task not in VIDEO_TASKS:
        if given:
            names = ", ".join(flag.flag for flag in given)
            raise SgmError(f"{names}: video options; {entry.name} is a {entry.task} model")
        return {}
    for dest, unset in IMAGE_ONLY.items():
        if getattr(args, dest) != unset:
            flag = "--class" if dest == "class_label" else f"--{dest.replace('_', '-')}"
            raise SgmError(f"{flag} is for image models; {entry.name} is a {entry.task} model")
    for flag in given:
        if entry.task not in flag.tasks:
            raise SgmError(f"{flag.flag} does not apply to {entry.name} ({entry.task}); it is for "
                           f"{', '.join(flag.tasks)} models")  # fmt: skip
    return {flag.dest: value for flag, value in given.items()}
