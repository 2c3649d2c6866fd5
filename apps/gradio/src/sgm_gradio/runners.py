"""The app's calls into the packages' pipelines, one function per tab; uploads are checked here before any model
loads. The app keeps the last loaded pipeline so repeated runs of one model do not reload it."""

import threading
from collections.abc import Callable
from typing import Any

from sgm_gradio.jobs import RunHooks
from sgm_gradio.outputs import RunOutput
from sgm_gradio.uploads import UploadLimits, load_image, load_video_frames

UPLOAD_LIMITS = UploadLimits()


def checkpoint_status(model: str) -> str | None:
    """None when the model's checkpoint is found, else the catalog's sentence naming the file and where it goes."""
    from sgm.core.catalog import find_checkpoint
    from sgm.core.errors import SgmError

    try:
        find_checkpoint(model)
    except SgmError as missing:
        return str(missing)
    return None


class _LastPipeline:
    """Holds one loaded pipeline at a time: a GPU rarely fits two of these models."""

    def __init__(self):
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._pipeline: Any = None

    def get(self, key: tuple, load: Callable[[], Any]) -> Any:
        with self._lock:
            if self._key != key:
                self._key, self._pipeline = None, None
                self._pipeline, self._key = load(), key
            return self._pipeline


_LAST = _LastPipeline()


def _image_pipeline(model: str):
    from sgm.core import pipelines

    return _LAST.get(("image", model), lambda: pipelines.load_pipeline(model))


def _video_pipeline(model: str):
    from sgm.video import pipelines

    return _LAST.get(("video", model), lambda: pipelines.load_pipeline(model))


def _sampling(settings: dict[str, Any], hooks: RunHooks) -> dict[str, Any]:
    return {
        "sampler": settings["sampler"],
        "steps": int(settings["steps"]),
        "guidance": float(settings["guidance"]),
        "seed": settings["seed"],
        "callback": hooks.step,
    }


def _refined(images: list, settings: dict[str, Any], hooks: RunHooks) -> list:
    if not settings.get("refiner"):
        return images
    refiner = _image_pipeline("sdxl-refiner")
    return refiner.refine(
        images, prompt=settings["prompt"], strength=float(settings["refiner_strength"]), **_sampling(settings, hooks)
    )


def run_digits(model: str, settings: dict[str, Any], hooks: RunHooks) -> RunOutput:
    pipeline = _image_pipeline(model)
    labels = [int(settings["digit"])] * int(settings["num_samples"])
    return RunOutput(images=pipeline.sample_classes(labels, **_sampling(settings, hooks)))


def run_txt2img(model: str, settings: dict[str, Any], hooks: RunHooks) -> RunOutput:
    images = _image_pipeline(model).txt2img(
        settings["prompt"],
        negative_prompt=settings["negative_prompt"],
        width=int(settings["width"]),
        height=int(settings["height"]),
        num_samples=int(settings["num_samples"]),
        **_sampling(settings, hooks),
    )
    return RunOutput(images=_refined(images, settings, hooks))


def run_img2img(model: str, settings: dict[str, Any], hooks: RunHooks) -> RunOutput:
    image = load_image(settings["image"], UPLOAD_LIMITS)
    images = _image_pipeline(model).img2img(
        image,
        settings["prompt"],
        negative_prompt=settings["negative_prompt"],
        strength=float(settings["strength"]),
        num_samples=int(settings["num_samples"]),
        **_sampling(settings, hooks),
    )
    return RunOutput(images=_refined(images, settings, hooks))


def _video_options(settings: dict[str, Any], hooks: RunHooks) -> dict[str, Any]:
    return {
        "num_frames": int(settings["num_frames"]),
        "steps": int(settings["steps"]),
        "cond_aug": float(settings["cond_aug"]),
        "decoding_t": int(settings["decoding_t"]),
        "seed": settings["seed"],
        "callback": hooks.step,
    }


def run_img2vid(model: str, settings: dict[str, Any], hooks: RunHooks) -> RunOutput:
    image = load_image(settings["image"], UPLOAD_LIMITS)
    frames = _video_pipeline(model).image_to_video(
        image,
        fps_id=int(settings["fps_id"]),
        motion_bucket_id=int(settings["motion_bucket_id"]),
        **_video_options(settings, hooks),
    )
    return RunOutput(videos=[frames], fps=int(settings["fps_id"]) + 1)


def run_orbit(model: str, settings: dict[str, Any], hooks: RunHooks) -> RunOutput:
    image = load_image(settings["image"], UPLOAD_LIMITS)
    orbit = [(float(row[0]), float(row[1])) for row in settings["orbit"]]
    if len(orbit) != int(settings["num_frames"]):
        raise ValueError(f"The orbit table has {len(orbit)} views but Frames is {int(settings['num_frames'])}.")
    frames = _video_pipeline(model).image_to_orbit(
        image,
        elevations_deg=[e for e, _ in orbit],
        azimuths_deg=[a for _, a in orbit],
        **_video_options(settings, hooks),
    )
    return RunOutput(videos=[frames], fps=10)


def run_vid2_4d(model: str, settings: dict[str, Any], hooks: RunHooks) -> RunOutput:
    frames = load_video_frames(settings["video"], UPLOAD_LIMITS)
    views = _video_pipeline(model).video_to_4d(
        frames,
        elevation_deg=float(settings["elevation"]),
        steps=int(settings["steps"]),
        decoding_t=int(settings["decoding_t"]),
        seed=settings["seed"],
        callback=hooks.step,
    )
    return RunOutput(videos=list(views), fps=10)


RUNNERS = {
    "digits": run_digits,
    "txt2img": run_txt2img,
    "img2img": run_img2img,
    "img2vid": run_img2vid,
    "orbit": run_orbit,
    "vid2_4d": run_vid2_4d,
}
