"""The app's runs, one method per tab: each builds one `sgm.pipelines.Request` (with a prompt list, one a line, as
`sgm sample --prompts` does) and calls `sgm.pipelines.run`, as the CLI does, so the same request gives the same files
from either app. Uploads are checked here before any model loads;
every step of every stage reports to `hooks.step`, which also ends a stopped run. Loaded pipelines stay loaded while
the next run needs the same models."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sgm_gradio.job_queue import JobQueue
from sgm_gradio.jobs import RunHooks
from sgm_gradio.outputs import RunOutput
from sgm_gradio.prompt_lists import list_requests
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


@dataclass(frozen=True)
class Runtime:
    """Where every model of the app runs: `device` (None: cuda when available), weights `dtype` (None: as the
    checkpoint loads, fp32; fp16 / bf16 keep the autoencoder in fp32 as the pipelines do) and how sampling calls the
    network, `compile` (None: auto, CUDA graphs on a GPU)."""

    device: str | None = None
    dtype: str | None = None
    compile: str | None = None

    def __post_init__(self):
        if self.dtype is not None and self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")


class PipelineRunners:
    """The tabs' runs (`as_dict()`: tab key -> `runner(model, settings, hooks) -> RunOutput`): each turns the tab's
    settings into one `sgm.pipelines.Request` and runs it as the CLI would, with one `runtime`, results written under
    `output_dir/<tab>`, uploads checked against `limits`, run in their turn by `queue` (which keeps the models of the last
run loaded)."""

    def __init__(
        self,
        runtime: Runtime = Runtime(),
        limits: UploadLimits = UploadLimits(),
        output_dir: Path = Path("outputs/gradio"),
        queue: JobQueue | None = None,
    ):
        self.runtime = runtime
        self.limits = limits
        self.output_dir = Path(output_dir)
        self.queue = queue or JobQueue()  # the server's one GPU queue, shared with the HTTP API
        self.cache = self.queue.cache

    def as_dict(self) -> dict[str, Callable[[str, dict[str, Any], RunHooks], RunOutput]]:
        return {"digits": self.digits, "txt2img": self.txt2img, "img2img": self.img2img, "img2vid": self.img2vid,
                "orbit": self.orbit, "vid2_4d": self.vid2_4d}  # fmt: skip

    def _run(self, tab: str, hooks: RunHooks, *, video: bool = False, prompt_list: str | None = None,
             **fields: Any) -> RunOutput:  # fmt: skip
        """Runs the request `fields` make, or with a `prompt_list`, each of its lines' requests in line order (all
        checked before the first runs)."""
        from sgm.pipelines import Request
        from sgm.pipelines.outputs import GRID_STEM

        request = Request(output=self.output_dir / tab, device=self.runtime.device, dtype=self.runtime.dtype,
                          compile=self.runtime.compile, **fields)  # fmt: skip
        requests = list_requests(prompt_list, request) or [request]
        media = []
        for number, line in enumerate(requests, start=1):
            step = hooks.step if len(requests) == 1 else _in_list(hooks.step, number, len(requests))
            try:
                outputs = self.queue.run(line, step)
            except Exception as error:
                if len(requests) > 1:  # the message names the prompt; the earlier ones' files are kept
                    error.add_note(f"prompt {number} of {len(requests)}")
                raise
            # The gallery lays the images out itself; the grid picture stays in the output folder.
            media += [path for path in outputs if path.suffix != ".json" and not path.name.startswith(GRID_STEM)]
        info = _placement(self.cache.loaded()[0])
        return RunOutput(videos=media, info=info) if video else RunOutput(images=media, info=info)

    def plan(self, tab: str, model: str, settings: dict[str, Any]) -> str:
        """The memory plan of the request tab `tab`'s run would make, as Markdown: the per-stage table and the
        options chosen to fit (nothing loads or runs)."""
        import copy

        from sgm.pipelines import Request, plan

        def planned(tab: str, hooks: Any, *, video: bool = False, prompt_list: str | None = None, **fields: Any) -> str:
            # with a prompt list: the plan of the tab's own settings, which its lines may change
            chosen = plan(Request(device=self.runtime.device, dtype=self.runtime.dtype, **fields))
            return f"```\n{chosen.table()}\n```"

        planner = copy.copy(self)
        planner._run = planned
        try:
            return getattr(planner, tab)(model, settings, None)
        except Exception as error:  # a missing upload or a bad number: say so in the panel
            return f"No plan yet: {error}"

    def _refiner(self, model: str, settings: dict[str, Any]) -> dict[str, Any]:
        from sgm.pipelines.catalog import get_entry

        if not settings.get("refiner"):
            return {}
        if get_entry(model).layout not in REFINABLE_LAYOUTS:
            raise ValueError(f"The SDXL refiner finishes SDXL images only: untick it for {model}, or pick sdxl-base.")
        return {"refiner": REFINER, "refiner_strength": float(settings["refiner_strength"])}

    def digits(self, model: str, settings: dict[str, Any], hooks: RunHooks) -> RunOutput:
        return self._run("digits", hooks, model=model, class_label=int(settings["digit"]),
                         num=int(settings["num_samples"]), **_sampling(settings))  # fmt: skip

    def txt2img(self, model: str, settings: dict[str, Any], hooks: RunHooks) -> RunOutput:
        return self._run(
            "txt2img", hooks, model=model, prompt=settings["prompt"], negative_prompt=settings["negative_prompt"],
            width=int(settings["width"]), height=int(settings["height"]), num=int(settings["num_samples"]),
            prompt_list=settings.get("prompt_list"), **_sampling(settings), **self._refiner(model, settings),
            **_loras(settings),
        )  # fmt: skip

    def img2img(self, model: str, settings: dict[str, Any], hooks: RunHooks) -> RunOutput:
        image = _checked_upload(settings["image"], load_image, self.limits)
        mask = Path(settings["mask"]) if settings.get("mask") else None  # the editor's strokes, saved as a file
        return self._run(
            "img2img", hooks, model=model, init_image=image, mask=mask, prompt=settings["prompt"],
            negative_prompt=settings["negative_prompt"], strength=float(settings["strength"]),
            num=int(settings["num_samples"]), prompt_list=settings.get("prompt_list"), **_sampling(settings),
            **self._refiner(model, settings), **_loras(settings),
        )  # fmt: skip

    def img2vid(self, model: str, settings: dict[str, Any], hooks: RunHooks) -> RunOutput:
        image = _checked_upload(settings["image"], load_image, self.limits)
        return self._run(
            "img2vid", hooks, video=True, model=model, input=image, fps=int(settings["fps"]),
            motion_bucket_id=int(settings["motion_bucket_id"]), **_video_options(settings),
        )  # fmt: skip

    def orbit(self, model: str, settings: dict[str, Any], hooks: RunHooks) -> RunOutput:
        from sgm.pipelines.catalog import get_entry

        image = _checked_upload(settings["image"], load_image, self.limits)
        orbit = [(float(row[0]), float(row[1])) for row in settings["orbit"]]
        if len(orbit) != int(settings["num_frames"]):
            raise ValueError(f"The orbit table has {len(orbit)} views but Frames is {int(settings['num_frames'])}.")
        cameras = {}
        if get_entry(model).defaults.get("cameras") == "posed":  # SV3D_p follows the table; SV3D_u has a fixed orbit
            cameras = {"elevations_deg": tuple(e for e, _ in orbit), "azimuths_deg": tuple(a for _, a in orbit)}
        return self._run("orbit", hooks, video=True, model=model, input=image, **cameras,
                         **_video_options(settings))  # fmt: skip

    def vid2_4d(self, model: str, settings: dict[str, Any], hooks: RunHooks) -> RunOutput:
        video = _checked_upload(settings["video"], load_video_frames, self.limits)
        return self._run(
            "vid2_4d", hooks, video=True, model=model, input=video, elevations_deg=float(settings["elevation"]),
            steps=int(settings["steps"]), decoding_t=int(settings["decoding_t"]), seed=int(settings["seed"]),
        )  # fmt: skip


def _checked_upload(path: Any, check: Callable, limits: UploadLimits) -> Path:
    """The uploaded file's path, after the app's upload checks (size, kind, frame count) passed."""
    check(path, limits)
    return Path(path)


def _sampling(settings: dict[str, Any]) -> dict[str, Any]:
    return {"sampler": settings["sampler"], "steps": int(settings["steps"]), "cfg": float(settings["guidance"]),
            "seed": int(settings["seed"])}  # fmt: skip


def _loras(settings: dict[str, Any]) -> dict[str, Any]:
    """The LoRA table's files with a weight (blank or 0: left out); only files of the LoRA folder."""
    from sgm.pipelines.loras import lora_dir, lora_files

    chosen = []
    for name, weight in settings.get("loras") or []:
        name = str(name or "").strip()
        if not name or weight in (None, "", 0):
            continue
        if name not in lora_files():
            raise ValueError(f"LoRA {name} is not in the LoRA folder {lora_dir().resolve()}: put it there first.")
        try:
            chosen.append((lora_dir() / name, float(weight)))
        except (TypeError, ValueError):
            raise ValueError(f"LoRA {name}: its weight {weight!r} is not a number.") from None
    return {"loras": tuple(chosen)} if chosen else {}


def _video_options(settings: dict[str, Any]) -> dict[str, Any]:
    return {"num_frames": int(settings["num_frames"]), "steps": int(settings["steps"]),
            "cond_aug": float(settings["cond_aug"]), "decoding_t": int(settings["decoding_t"]),
            "seed": int(settings["seed"])}  # fmt: skip


def _in_list(step: Callable[[str, int, int], None], number: int, count: int) -> Callable[[str, int, int], None]:
    """`step` with the stage named by its place in a prompt list ("sampling, prompt 2 of 5")."""
    return lambda stage, i, total: step(f"{stage}, prompt {number} of {count}", i, total)


def _placement(pipeline: Any) -> dict[str, str]:
    """Where a result was made, recorded with its parameters: the network's device and dtype, the attention kernel."""
    import torch
    from sgm.kernels import default_backend

    parameter = next(pipeline.engine.model.parameters())
    names = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16", torch.float64: "fp64"}
    device = getattr(pipeline, "device", parameter.device)
    return {"device": str(device), "dtype": names.get(parameter.dtype, str(parameter.dtype)),
            "attention": default_backend()}  # fmt: skip
