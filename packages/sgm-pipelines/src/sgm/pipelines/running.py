"""`run(request)`: one generation for any catalog model, start to end, the same for the CLI, the web app and the
HTTP API: check everything, load (or reuse) the pipelines, sample, write the outputs, return their paths."""

import contextlib
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sgm.core.errors import SgmError
from sgm.core.watermark import read_image
from sgm.kernels.backend import default_backend, use_backend
from sgm.pipelines import catalog
from sgm.pipelines.checks import check_request
from sgm.pipelines.compiled import resolve_mode
from sgm.pipelines import generation as gen
from sgm.pipelines.conditioning import embedder_keys
from sgm.pipelines.image import Samples
from sgm.pipelines.loading import Pipeline, check_device, load_pipeline
from sgm.pipelines.loras import PipelineLoras, file_identity, merge_loras, recorded_loras
from sgm.pipelines.offloading import place
from sgm.pipelines.outputs import save_images, save_videos
from sgm.pipelines.planning import applied, plan_for_run
from sgm.pipelines.progress import ProgressCallback
from sgm.pipelines.refiner import txt2img_with_refiner
from sgm.pipelines.request import Request
from sgm.pipelines.seeds import check_seed
from sgm.pipelines.vae_tiling import tiled_vae_decoding
from sgm.video.io import load_frames


class PipelineCache:
    """The pipelines of the latest run, kept for the next one; models the next run does not use are dropped first
    (a GPU rarely fits two of these models besides the ones a run needs). A pipeline is known by its model,
    checkpoint file, device, dtype, pickle permission and merged LoRAs, so a replaced file is loaded anew. Side
    LoRAs are set on a kept pipeline per run, and only while no other run samples with it (their weights must not
    change inside a sampling run)."""

    def __init__(self):
        self._lock = threading.Condition()
        self._loaded: dict[tuple, Pipeline] = {}
        self._loras: dict[tuple, PipelineLoras] = {}
        self._users: Counter[tuple] = Counter()

    @contextlib.contextmanager
    def use(self, request: Request, models: list[tuple[str, Path]], on_load: Callable[[str], None] | None = None):
        """The pipelines of `models` (the request's model first), loaded or kept, for the block: the first with the
        request's LoRAs (merged at load with `lora_merge`, else as side layers), the others with none."""
        merged = file_identity(request.loras, with_weights=True) if request.lora_merge else ()
        keys = [(model, path, request.device, request.dtype, request.allow_pickle, merged if index == 0 else ())
                for index, (model, path) in enumerate(models)]  # fmt: skip
        side = [request.loras if index == 0 and not request.lora_merge else () for index in range(len(keys))]
        with self._lock:
            self._lock.wait_for(lambda: self._settable(keys, side))
            self._loaded = {key: pipeline for key, pipeline in self._loaded.items() if key in keys}
            self._loras = {key: loras for key, loras in self._loras.items() if key in keys}
            for key in keys:
                if key not in self._loaded:
                    self._loaded[key] = self._load(request, key, on_load)
                    self._loras[key] = PipelineLoras(self._loaded[key].engine)
            for key, loras in zip(keys, side):
                self._loras[key].use(loras)
                self._users[key] += 1
                # where the weights sit while each stage runs: the request's offloading
                place(self._loaded[key], check_device(request.device), request.offload or "none")
            pipelines = [self._loaded[key] for key in keys]
        try:
            yield pipelines
        finally:
            with self._lock:
                self._users.subtract(keys)
                self._lock.notify_all()

    def _settable(self, keys: list[tuple], side: list[tuple]) -> bool:
        """Whether each pipeline is new, used by no other run, or carries the side LoRAs asked for already."""
        return all(key not in self._loras or not self._users[key] or self._loras[key].serves(loras)
                   for key, loras in zip(keys, side))  # fmt: skip

    @staticmethod
    def _load(request: Request, key: tuple, on_load: Callable[[str], None] | None) -> Pipeline:
        model, path, *_, merged = key
        if on_load is not None:
            on_load(model)
        pipeline = load_pipeline(model, ckpt=path, device=request.device, dtype=request.dtype,
                                 allow_pickle=request.allow_pickle, offload=request.offload)  # fmt: skip
        if merged:
            merge_loras(pipeline.engine, request.loras)
        return pipeline

    def loaded(self) -> list[Pipeline]:
        """The pipelines loaded now (those of the latest run)."""
        with self._lock:
            return list(self._loaded.values())


def run(
    request: Request,
    *,
    callback: ProgressCallback | None = None,
    cache: PipelineCache | None = None,
) -> list[Path]:
    """Generate what `request` asks and write it under `request.output` (default `./outputs/<model>`); returns the
    written paths. `callback(stage, i, total)` hears every step and may raise to stop; `cache` keeps pipelines
    loaded between runs."""
    request = check_request(request)
    chosen = plan_for_run(request)  # refuses, with the numbers, a request that cannot fit
    if chosen is not None:
        print(f"memory plan: {chosen.summary()}", file=sys.stderr)
    request = applied(request, chosen)
    entry = catalog.get_entry(request.model)
    models = [(request.model, request.ckpt)] + ([(request.refiner, request.refiner_ckpt)] if request.refiner else [])
    with use_backend(request.attention or default_backend()):  # one switch for every attention and norm call
        on_load = None if callback is None else (lambda model: callback(f"loading {model}", 0, 1))
        with (cache or PipelineCache()).use(request, models, on_load) as pipelines:
            mode = sampling_mode(request)
            for pipeline in pipelines:
                pipeline.watermark = request.watermark
                pipeline.sampling_mode = mode
                pipeline.split_guidance = bool(request.split_guidance)
            if entry.is_video:
                return _run_video(pipelines[0], request, callback)
            return _run_image(pipelines, request, callback)


def sampling_mode(request: Request) -> str:
    """How sampling calls the network for `request` (`sgm.pipelines.compiled`); streaming the UNet's blocks
    (sequential offloading) moves weights during each step, which a CUDA graph cannot replay, so it runs eagerly."""
    mode = resolve_mode(request.compile, check_device(request.device))
    return "none" if mode == "graphs" and request.offload == "sequential" else mode


def _sampling(request: Request, callback: ProgressCallback | None) -> dict[str, Any]:
    chosen = {"seed": request.seed, "steps": request.steps, "guidance": request.cfg, "sampler": request.sampler,
              "discretization": request.discretization, "callback": callback}  # fmt: skip
    return {key: value for key, value in chosen.items() if value is not None}


def _run_image(pipelines: list, request: Request, callback: ProgressCallback | None) -> list[Path]:
    with contextlib.ExitStack() as vae_options:
        for pipeline in pipelines:
            vae_options.enter_context(tiled_vae_decoding(pipeline.engine.first_stage_model, bool(request.vae_tiling)))
            vae_options.enter_context(gen.vae_samples_at_a_time(pipeline.engine, request.decoding_t))
        samples = sample_images(pipelines, request, callback)
    defaults = pipelines[0].defaults
    loras = {"loras": recorded_loras(request.loras)} if request.loras else {}
    return save_images(samples, request.output, {**samples.parameters, **loras},
                       output_size=defaults.get("output_size"), grid=bool(defaults.get("grid")))  # fmt: skip


def sample_images(pipelines: list, request: Request, callback: ProgressCallback | None = None) -> Samples:
    """The images `request` asks of `pipelines` (the model's, then a refiner's if one is named): class labels for a
    class model, else img2img from an init image (inpainting with a mask), else text to image; the refiner finishes
    either."""
    pipeline = pipelines[0]
    num = request.num or 1
    common = _sampling(request, callback)
    if "cls" in embedder_keys(pipeline.engine.conditioner):
        label = pipeline.defaults.get("class_label", 0) if request.class_label is None else request.class_label
        samples = pipeline.sample_classes([label] * num, **common)
    else:
        text = {"negative_prompt": request.negative_prompt, "num_samples": num, **common}
        size = {"width": request.width, "height": request.height}
        if request.init_image is not None:
            image = read_image(request.init_image)
            samples = pipeline.img2img(image, request.prompt, strength=request.strength, mask=request.mask, **size,
                                       **text)  # fmt: skip
            if len(pipelines) == 2:  # the refiner keeps the mask: what it keeps stays the input
                refined = pipelines[1].refine(samples, request.prompt, negative_prompt=request.negative_prompt,
                                              strength=request.refiner_strength, mask=request.mask,
                                              **common)  # fmt: skip
                refined.parameters.update(samples.parameters, refiner=pipelines[1].name)
                samples = refined
        elif len(pipelines) == 2:
            samples = txt2img_with_refiner(pipeline, pipelines[1], request.prompt,
                                           refiner_strength=request.refiner_strength, **size, **text)  # fmt: skip
        else:
            samples = pipeline.txt2img(request.prompt, **size, **text)
    return samples


def _run_video(pipeline: Any, request: Request, callback: ProgressCallback | None) -> list[Path]:
    defaults = pipeline.sampling
    seed = check_seed(request.seed if request.seed is not None else defaults.get("seed"))
    common = {"steps": request.steps, "cfg": request.cfg, "min_cfg": request.min_cfg, "num_frames": request.num_frames,
              "decoding_t": request.decoding_t, "seed": seed, "callback": callback}  # fmt: skip
    framing = {"img_size": request.img_size, "remove_bg": bool(request.remove_bg),
               "image_frame_ratio": request.image_frame_ratio}  # fmt: skip
    cameras = {"elevations_deg": request.elevations_deg, "azimuths_deg": request.azimuths_deg}
    task = defaults["task"]
    if task == "video2views":
        videos = pipeline.video_to_4d(str(request.input), encoding_t=request.encoding_t, **cameras, **framing,
                                      **common)  # fmt: skip
    else:
        image = load_frames(request.input, max_frames=1)[0]
        if task == "img2video":
            videos = [pipeline.image_to_video(image, fps=request.fps, motion_bucket_id=request.motion_bucket_id,
                                              cond_aug=request.cond_aug, width=request.width, height=request.height,
                                              **common)]  # fmt: skip
        elif task == "img2orbit":
            if defaults.get("cameras") != "posed":
                cameras = {k: v for k, v in cameras.items() if v is not None}
            videos = [pipeline.image_to_orbit(image, cond_aug=request.cond_aug, **cameras, **framing, **common)]
        else:
            raise SgmError(f"{request.model}: no video pipeline for task {task}")
    fps = request.fps or int(defaults["fps"])
    parameters = {"model": request.model, **_recorded(request), "seed": seed}
    return save_videos(videos, request.output, f"{request.model}-{seed}", parameters,
                       fmt=request.format or "mp4", fps=fps)  # fmt: skip


def _recorded(request: Request) -> dict[str, Any]:
    """The request's settings as recorded with a result (paths by name, runtime placement left out)."""
    given = request.given()
    for key in ("output", "ckpt", "refiner_ckpt", "device", "offload", "split_guidance", "vram"):
        given.pop(key, None)
    if request.loras:
        given["loras"] = recorded_loras(request.loras)
    return {key: (Path(value).name if isinstance(value, Path) else value) for key, value in given.items()}
