"""The app's calls into the packages' pipelines, one method per tab: `sgm.pipelines` (digits, text to image,
image to image, the SDXL refiner) and `sgm.pipelines` (image to video, orbit, video to 4D). Uploads are
checked here before any model loads; every step of every stage reports to `hooks.step`, which also ends a stopped
run. Loaded pipelines stay loaded while the next run needs the same models."""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sgm_gradio.jobs import RunHooks
from sgm_gradio.outputs import RunOutput
from sgm_gradio.uploads import UploadLimits, load_image, load_video_frames

DTYPES = ("fp32", "fp16", "bf16")  # what both the image and the video pipelines take
REFINER = "sdxl-refiner"
REFINABLE_LAYOUTS = ("sd_xl_base",)  # models whose latents the SDXL refiner reads: SDXL's autoencoder and scale


def checkpoint_status(model: str) -> str | None:
    """None when the model's checkpoint is found, else the catalog's sentence naming the file and where it goes."""
    from sgm.pipelines.catalog import find_checkpoint
    from sgm.core.errors import SgmError

    try:
        find_checkpoint(model)
    except SgmError as missing:
        return str(missing)
    return None


# The catalog's sampling defaults that tab controls show, by the controls' names.
DEFAULT_CONTROLS = {"sampler": "sampler", "steps": "steps", "cfg": "guidance", "width": "width", "height": "height",
                    "strength": "strength", "refiner_strength": "refiner_strength", "num_frames": "num_frames",
                    "fps": "fps", "motion_bucket_id": "motion_bucket_id", "cond_aug": "cond_aug",
                    "decoding_t": "decoding_t", "elevations_deg": "elevation"}  # fmt: skip


def model_defaults(model: str) -> dict[str, Any]:
    """The model's sampling defaults (its config's `sampling:` block, e.g. Turbo: 1 Euler ancestral step, guidance 1)
    by control name."""
    from sgm.pipelines.catalog import get_entry

    defaults = get_entry(model).defaults
    return {control: defaults[key] for key, control in DEFAULT_CONTROLS.items() if key in defaults}


class LoadedPipelines:
    """The pipelines of the latest run, kept for the next one; models the next run does not use are dropped first
    (a GPU rarely fits two of these models besides the ones a run needs). A pipeline is known by its model name and
    checkpoint file, so a replaced file is loaded anew."""

    def __init__(self):
        self._lock = threading.Lock()
        self._loaded: dict[tuple[str, Path], Any] = {}

    def get(self, models: list[str], load: Callable[[str, Path], Any], hooks: RunHooks) -> list[Any]:
        from sgm.pipelines.catalog import find_checkpoint

        keys = [(model, find_checkpoint(model)) for model in models]
        with self._lock:
            self._loaded = {key: pipeline for key, pipeline in self._loaded.items() if key in keys}
            for key in keys:
                if key not in self._loaded:
                    hooks.stage(f"loading {key[0]}")
                    self._loaded[key] = load(*key)
            return [self._loaded[key] for key in keys]


@dataclass(frozen=True)
class Runtime:
    """Where every model of the app runs: `device` (None: cuda when available) and weights `dtype` (None: as the
    checkpoint loads, fp32; fp16 / bf16 keep the autoencoder in fp32 as the pipelines do)."""

    device: str | None = None
    dtype: str | None = None

    def __post_init__(self):
        if self.dtype is not None and self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")


class PipelineRunners:
    """The tabs' pipeline calls (`as_dict()`: tab key -> `runner(model, settings, hooks) -> RunOutput`), all
    loading their models with one `runtime` and checking uploads against `limits`."""

    def __init__(self, runtime: Runtime = Runtime(), limits: UploadLimits = UploadLimits()):
        self.runtime = runtime
        self.limits = limits
        self.loaded = LoadedPipelines()

    def as_dict(self) -> dict[str, Callable[[str, dict[str, Any], RunHooks], RunOutput]]:
        return {"digits": self.digits, "txt2img": self.txt2img, "img2img": self.img2img, "img2vid": self.img2vid,
                "orbit": self.orbit, "vid2_4d": self.vid2_4d}  # fmt: skip

    def _load(self, model: str, checkpoint: Path):
        from sgm.pipelines import load_pipeline

        return load_pipeline(model, ckpt=checkpoint, device=self.runtime.device, dtype=self.runtime.dtype)

    def _image_models(self, models: list[str], hooks: RunHooks) -> list:
        return self.loaded.get(models, self._load, hooks)

    def _with_refiner(self, model: str, settings: dict[str, Any], hooks: RunHooks) -> list:
        from sgm.pipelines.catalog import get_entry

        if not settings.get("refiner"):
            return self._image_models([model], hooks)
        if get_entry(model).layout not in REFINABLE_LAYOUTS:
            raise ValueError(f"The SDXL refiner finishes SDXL images only: untick it for {model}, or pick sdxl-base.")
        return self._image_models([model, REFINER], hooks)

    def digits(self, model: str, settings: dict[str, Any], hooks: RunHooks) -> RunOutput:
        (pipeline,) = self._image_models([model], hooks)
        labels = [int(settings["digit"])] * int(settings["num_samples"])
        images = pipeline.sample_classes(labels, **_sampling(settings, hooks))
        return RunOutput(images=list(images), info=_placement(pipeline))

    def txt2img(self, model: str, settings: dict[str, Any], hooks: RunHooks) -> RunOutput:
        from sgm.pipelines import txt2img_with_refiner

        pipelines = self._with_refiner(model, settings, hooks)
        request = {
            "negative_prompt": settings["negative_prompt"],
            "width": int(settings["width"]),
            "height": int(settings["height"]),
            "num_samples": int(settings["num_samples"]),
            **_sampling(settings, hooks),
        }
        if len(pipelines) == 1:
            images = pipelines[0].txt2img(settings["prompt"], **request)
        else:
            base, refiner = pipelines
            strength = float(settings["refiner_strength"])
            images = txt2img_with_refiner(base, refiner, settings["prompt"], refiner_strength=strength, **request)
        return RunOutput(images=list(images), info=_placement(pipelines[0]))

    def img2img(self, model: str, settings: dict[str, Any], hooks: RunHooks) -> RunOutput:
        image = load_image(settings["image"], self.limits)
        pipelines = self._with_refiner(model, settings, hooks)
        images = pipelines[0].img2img(
            image,
            settings["prompt"],
            negative_prompt=settings["negative_prompt"],
            strength=float(settings["strength"]),
            num_samples=int(settings["num_samples"]),
            **_sampling(settings, hooks),
        )
        if len(pipelines) == 2:
            images = pipelines[1].refine(
                images,
                settings["prompt"],
                negative_prompt=settings["negative_prompt"],
                strength=float(settings["refiner_strength"]),
                seed=int(settings["seed"]),
                progress=False,
                callback=lambda _stage, i, total: hooks.step("refining", i, total),
            )
        return RunOutput(images=list(images), info=_placement(pipelines[0]))

    def img2vid(self, model: str, settings: dict[str, Any], hooks: RunHooks) -> RunOutput:
        image = load_image(settings["image"], self.limits)
        (pipeline,) = self.loaded.get([model], self._load, hooks)
        frames = pipeline.image_to_video(
            image,
            fps=int(settings["fps"]),
            motion_bucket_id=int(settings["motion_bucket_id"]),
            **_video_options(settings, hooks),
        )
        return RunOutput(videos=[frames], fps=int(settings["fps"]), info=_placement(pipeline))

    def orbit(self, model: str, settings: dict[str, Any], hooks: RunHooks) -> RunOutput:
        image = load_image(settings["image"], self.limits)
        orbit = [(float(row[0]), float(row[1])) for row in settings["orbit"]]
        if len(orbit) != int(settings["num_frames"]):
            raise ValueError(f"The orbit table has {len(orbit)} views but Frames is {int(settings['num_frames'])}.")
        (pipeline,) = self.loaded.get([model], self._load, hooks)
        cameras = {}
        if pipeline.sampling.get("cameras") == "posed":  # SV3D_p follows the table; SV3D_u has a fixed orbit
            cameras = {"elevations_deg": [e for e, _ in orbit], "azimuths_deg": [a for _, a in orbit]}
        frames = pipeline.image_to_orbit(image, **cameras, **_video_options(settings, hooks))
        return RunOutput(videos=[frames], fps=int(pipeline.sampling["fps"]), info=_placement(pipeline))

    def vid2_4d(self, model: str, settings: dict[str, Any], hooks: RunHooks) -> RunOutput:
        frames = load_video_frames(settings["video"], self.limits)
        (pipeline,) = self.loaded.get([model], self._load, hooks)
        views = pipeline.video_to_4d(
            frames,
            elevations_deg=float(settings["elevation"]),
            steps=int(settings["steps"]),
            decoding_t=int(settings["decoding_t"]),
            seed=int(settings["seed"]),
            callback=hooks.step,
        )
        return RunOutput(videos=list(views), fps=int(pipeline.sampling["fps"]), info=_placement(pipeline))


def _sampling(settings: dict[str, Any], hooks: RunHooks) -> dict[str, Any]:
    """The image pipelines' sampler options; the step hook replaces the samplers' own tqdm bars."""
    return {
        "sampler": settings["sampler"],
        "steps": int(settings["steps"]),
        "guidance": float(settings["guidance"]),
        "progress": False,
        "seed": int(settings["seed"]),
        "callback": hooks.step,
    }


def _video_options(settings: dict[str, Any], hooks: RunHooks) -> dict[str, Any]:
    return {
        "num_frames": int(settings["num_frames"]),
        "steps": int(settings["steps"]),
        "cond_aug": float(settings["cond_aug"]),
        "decoding_t": int(settings["decoding_t"]),
        "seed": int(settings["seed"]),
        "callback": hooks.step,
    }


def _placement(pipeline: Any) -> dict[str, str]:
    """Where a result was made, recorded with its parameters: the network's device and dtype, the attention kernel."""
    import torch
    from sgm.kernels import default_backend

    parameter = next(pipeline.engine.model.parameters())
    names = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16", torch.float64: "fp64"}
    device = getattr(pipeline, "device", parameter.device)
    return {"device": str(device), "dtype": names.get(parameter.dtype, str(parameter.dtype)),
            "attention": default_backend()}  # fmt: skip

