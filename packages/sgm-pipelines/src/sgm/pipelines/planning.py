"""The memory plan of a request: the peak device memory of each stage, measured by running the model's real modules
on the meta device (shapes only: no weights, no memory, seconds for a full-size model), and the fastest runtime
options whose plan fits the budget.

A stage's peak is the weights on the device while it runs (all of the run's models' without offloading; only its own
component with `offload="model"`; the largest streamed block of the network with `"sequential"`) plus the most bytes
its tensors take at once (`memory_tracking.LiveTensorBytes` over `stage_probes`). A run of two models (SDXL with its
refiner; SV4D, whose first frame's views SV3D_u makes) has the stages of both. Options are tried from fastest to
slowest: no offloading before offloading, each with the guidance batch whole and then split (`guidance_split`), each
of those with the model's own chunking first and then smaller VAE chunks (video) or VAE tiles (images); options the
user gave are kept as they are.
"""

import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch

from sgm.core.errors import SgmError
from sgm.core.inference import optimize_for_inference
from sgm.pipelines import catalog
from sgm.pipelines.memory_tracking import LiveTensorBytes, device_kernels, tensor_bytes
from sgm.pipelines.offloading import OFFLOAD_MODES, streamed_blocks
from sgm.pipelines.request import Request
from sgm.pipelines.stage_probes import (
    ProbeShape,
    probe_parts,
    run_image_probe,
    run_video_probe,
    video_probe_host_inputs,
)

GB = 2**30


@dataclass(frozen=True)
class RuntimeSettings:
    """How a generation is placed: `offload` none | model | sequential; `split_guidance`, the network once per half
    of the guidance batch; `vae_tiling` (images); `encoding_t` / `decoding_t`, frames the VAE encodes / decodes at
    once (video), or images of a batch (images)."""

    offload: str = "none"
    split_guidance: bool | None = None
    vae_tiling: bool | None = None
    encoding_t: int | None = None
    decoding_t: int | None = None

    def describe(self) -> str:
        parts = [f"offload {self.offload}"]
        if self.split_guidance is not None:
            parts.append("split guidance" if self.split_guidance else "whole guidance batch")
        if self.vae_tiling is not None:
            parts.append("vae tiling" if self.vae_tiling else "no vae tiling")
        parts += [f"{key} {value}" for key, value in (("encoding_t", self.encoding_t), ("decoding_t", self.decoding_t))
                  if value is not None]  # fmt: skip
        return ", ".join(parts)


@dataclass(frozen=True)
class StagePlan:
    name: str
    weights_bytes: int  # on the device while the stage runs
    activation_bytes: int  # the most the stage's tensors take at once

    @property
    def peak_bytes(self) -> int:
        return self.weights_bytes + self.activation_bytes


@dataclass(frozen=True)
class Plan:
    model: str
    settings: RuntimeSettings
    stages: tuple[StagePlan, ...]
    budget_bytes: int | None  # None: no limit known (the CPU without --vram)
    device: str

    @property
    def peak_bytes(self) -> int:
        return max(stage.peak_bytes for stage in self.stages)

    @property
    def fits(self) -> bool:
        return self.budget_bytes is None or self.peak_bytes <= self.budget_bytes

    def summary(self) -> str:
        """One line: the chosen options and the peak against the budget."""
        budget = "no limit" if self.budget_bytes is None else f"{self.budget_bytes / GB:.1f} GB"
        verdict = "fits" if self.fits else "does not fit"
        return f"{self.model}: {self.settings.describe()}: peak {self.peak_bytes / GB:.2f} GB, {verdict} ({budget})"

    def as_json(self) -> dict[str, Any]:
        settings = {key: value for key, value in asdict(self.settings).items() if value is not None}
        return {"model": self.model, "peak_bytes": self.peak_bytes, "fits": self.fits, "settings": settings,
                "stages": [{"name": s.name, "peak_bytes": s.peak_bytes, "weights_bytes": s.weights_bytes,
                            "activation_bytes": s.activation_bytes} for s in self.stages],
                "budget_bytes": self.budget_bytes, "device": self.device}  # fmt: skip

    def table(self) -> str:
        rows = [("stage", "weights", "activations", "peak")]
        rows += [(s.name, _gb(s.weights_bytes), _gb(s.activation_bytes), _gb(s.peak_bytes)) for s in self.stages]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
                 for row in rows]  # fmt: skip
        return "\n".join([*lines, self.summary()])


def _gb(size: int) -> str:
    return f"{size / GB:.2f} GB"


def plan(request: Request, budget_bytes: int | None = None, target: str | None = None) -> Plan:
    """The plan of `request` with the fastest options that fit `budget_bytes` (default: the request's `vram`, else
    the device's free memory; on the CPU, no limit), or, when none fits, the one with the smallest peak (its
    `fits` is False). Needs no checkpoint: the model is built on the meta device. `target`: the device type whose
    kernels' memory is planned ("cuda", "cpu"; default: the request's device's), e.g. a GPU's on a machine without."""
    from sgm.pipelines.checks import check_shape_options

    request = check_shape_options(request)
    entry = catalog.get_entry(request.model)
    device = _device(request)
    if budget_bytes is None:
        budget_bytes = default_budget(request, device)
    planner = Planner(entry, request)
    target = target or device.type
    plans = (planner.plan_for(settings, budget_bytes, target) for settings in candidate_settings(entry, request))
    smallest = None
    for candidate in plans:
        if candidate.fits:
            return candidate
        smallest = candidate if smallest is None or candidate.peak_bytes < smallest.peak_bytes else smallest
    return smallest


def default_budget(request: Request, device: torch.device) -> int | None:
    """`--vram` in bytes, else the free memory of a CUDA device, else None."""
    if request.vram is not None:
        return int(request.vram * GB)
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return None


def _device(request: Request) -> torch.device:
    from sgm.pipelines.loading import check_device

    return check_device(request.device)


def candidate_settings(entry: catalog.ModelEntry, request: Request) -> list[RuntimeSettings]:
    """Every combination of options to try, fastest first; an option the request sets is the only one tried.

    Splitting the guidance batch comes before any offloading: it costs two half-batch network calls per step instead
    of one (a few percent where half the batch still fills the device), while offloading moves gigabytes of weights
    over the host link per stage ("model") or per step ("sequential", which with a split streams them twice). At one
    offloading, the chunkings are tried with the whole batch, then with the split: a split saves memory only in the
    sampling step and a chunking only in the VAE's stages, so the first that fits takes each only where its stage
    needs it."""
    offloads = [request.offload] if request.offload is not None else list(OFFLOAD_MODES)
    splits = [request.split_guidance] if request.split_guidance is not None else [False, True]
    if not entry.is_video:
        tilings = [request.vae_tiling] if request.vae_tiling is not None else [False, True]
        # the whole batch at once (None), then half of it, ... one image; tiles only when one image does not fit
        decodings = [request.decoding_t] if request.decoding_t is not None else [None, *_halvings(None, request.num)[1:]]
        chunkings = [{"vae_tiling": tiling, "decoding_t": count} for tiling in tilings for count in decodings]
    else:
        defaults = entry.defaults
        decodings = _halvings(request.decoding_t, defaults.get("decoding_t"))
        encodings = _halvings(request.encoding_t, defaults.get("encoding_t")) if entry.task == "video2views" else [None]
        pairs = sorted(itertools.product(range(len(encodings)), range(len(decodings))), key=sum)
        chunkings = [{"encoding_t": encodings[i], "decoding_t": decodings[j]} for i, j in pairs]
    return [RuntimeSettings(offload=offload, split_guidance=split, **chunking)
            for offload in offloads for split in splits for chunking in chunkings]  # fmt: skip


def _halvings(given: int | None, default: Any) -> list[int | None]:
    """`[given]`, or the model's default and its halvings down to 1 (14, 7, 3, 1)."""
    if given is not None or default is None:
        return [given]
    values = [int(default)]
    while values[-1] > 1:
        values.append(values[-1] // 2)
    return values


class Planner:
    """The models a request runs (SV4D's reference-views model, the model, a refiner) built once on the meta device
    in the request's dtype; each distinct chunking probed once."""

    def __init__(self, entry: catalog.ModelEntry, request: Request):
        self.entry, self.request = entry, request
        companion = entry.defaults.get("reference_views_model")
        reference = _meta_pipeline(companion, request.dtype) if companion else None
        self.pipeline = _meta_pipeline(entry.name, request.dtype, reference_views=reference)
        refiner = catalog.get_entry(request.refiner).name if request.refiner else None
        self.refiner = _meta_pipeline(refiner, request.dtype) if refiner else None
        # every model a run loads is resident at once without offloading (PipelineCache, load_pipeline's companion)
        self.resident_bytes = sum(tensor_bytes(p.engine) for p in (reference, self.pipeline, self.refiner) if p)
        self.shape = probe_shape(entry, request)
        self._probed: dict[tuple[ProbeShape, str], list[tuple[Any, dict[str, tuple[str, int]]]]] = {}

    def plan_for(self, settings: RuntimeSettings, budget_bytes: int | None, device: str) -> Plan:
        shape = replace(self.shape, vae_tiling=bool(settings.vae_tiling), encoding_t=settings.encoding_t,
                        decoding_t=settings.decoding_t, split_guidance=bool(settings.split_guidance))  # fmt: skip
        offload = settings.offload
        stages = tuple(StagePlan(self._stage_name(pipeline, name), self._weights(pipeline, component, offload), size)
                       for pipeline, activations in self._activations(shape, device)
                       for name, (component, size) in activations.items())  # fmt: skip
        return Plan(self.entry.name, settings, stages, budget_bytes, device)

    def _activations(self, shape: ProbeShape, target: str) -> list[tuple[Any, dict[str, tuple[str, int]]]]:
        if (shape, target) not in self._probed:
            self._probed[shape, target] = [(pipeline, probe_activations(pipeline, part_shape, target))
                                           for pipeline, part_shape in probe_parts(self.pipeline, shape, self.refiner)]
        return self._probed[shape, target]

    def _stage_name(self, pipeline: Any, name: str) -> str:
        """The model's own stages by their names, the other model's with its name first ("sv3d-u vae decode")."""
        return name if pipeline is self.pipeline else f"{pipeline.name} {name}"

    def _weights(self, pipeline: Any, component: str, offload: str) -> int:
        engine = pipeline.engine
        if offload == "none":
            return self.resident_bytes
        if offload == "sequential" and component == "network":
            return max(tensor_bytes(block) for block in streamed_blocks(engine.model))
        return component_bytes(engine, component)


def _meta_pipeline(name: str, dtype: str | None, reference_views: Any = None) -> Any:
    """Catalog model `name`'s pipeline on the meta device, as `load_pipeline` makes it for a run."""
    from sgm.pipelines.loading import wrap_engine

    entry = catalog.get_entry(name)
    engine = optimize_for_inference(_meta_engine(name, dtype), "meta")
    sampler_config = catalog.model_config(name).params.get("sampler_config")
    return wrap_engine(engine, entry.defaults, sampler_config, name=name, device="meta", watermark=False,
                       reference_views=reference_views, size_multiple=entry.size_multiple)  # fmt: skip


def _meta_engine(name: str, dtype: str | None) -> torch.nn.Module:
    """The catalog model on the meta device with the dtypes loading in `dtype` gives it."""
    from sgm.pipelines.loading import apply_dtype_policy

    engine = catalog.build_model(name, device="meta")
    apply_dtype_policy(engine, dtype, cast=True)
    return engine


def component_bytes(engine: torch.nn.Module, component: str) -> int:
    modules = {"conditioner": [engine.conditioner], "first_stage": [engine.first_stage_model],
               "network": [engine.model, engine.denoiser]}  # fmt: skip
    return sum(tensor_bytes(module) for module in modules[component])


def probe_shape(entry: catalog.ModelEntry, request: Request) -> ProbeShape:
    """The request's sizes, the model's defaults where it leaves them."""
    defaults = entry.defaults
    if entry.is_video:
        side = request.img_size or defaults.get("img_size")
        width = request.width or defaults.get("width") or side
        height = request.height or defaults.get("height") or side
        return ProbeShape(width=int(width), height=int(height), frames=int(request.num_frames or defaults["num_frames"]))
    width = request.width or defaults.get("width")
    height = request.height or defaults.get("height")
    return ProbeShape(width=int(width), height=int(height), batch=request.num or 1, cfg=request.cfg,
                      img2img=request.init_image is not None or entry.task == "img2img")  # fmt: skip


def probe_activations(pipeline: Any, shape: ProbeShape, target: str = "cuda") -> dict[str, tuple[str, int]]:
    """`{stage: (component, peak bytes of its tensors)}` of one probe on `pipeline` (a meta-device pipeline), with
    the kernels of device type `target`."""
    peaks: dict[str, tuple[str, int]] = {}
    tracker = LiveTensorBytes(host_is_device=target == "cpu")

    @contextlib.contextmanager
    def stage(name: str, component: str) -> Iterator[None]:
        tracker.peak = tracker.live
        yield
        peaks[name] = (component, tracker.peak)

    host = video_probe_host_inputs(pipeline, shape) if hasattr(pipeline, "sampling") else {}
    with torch.no_grad(), device_kernels(target), tracker:
        if hasattr(pipeline, "sampling"):
            run_video_probe(pipeline, shape, stage, host)
        else:
            run_image_probe(pipeline, shape, stage)
    return peaks


def plan_for_run(request: Request) -> Plan | None:
    """The plan `run` follows: None on the CPU without `vram` (nothing to fit), else the fastest fitting options;
    an SgmError with the numbers when nothing fits, before anything loads."""
    if _device(request).type == "cpu" and request.vram is None:
        return None
    return refuse_unless_fits(plan(request))


def applied(request: Request, chosen: Plan | None) -> Request:
    """`request` with the plan's options filled in (those it gave stay)."""
    if chosen is None:
        return request
    settings = {key: value for key, value in asdict(chosen.settings).items() if value is not None}
    return request.replace(**settings)


def refuse_unless_fits(chosen: Plan) -> Plan:
    """`chosen`, or an SgmError with the numbers when even its smallest options do not fit."""
    if chosen.fits:
        return chosen
    worst = max(chosen.stages, key=lambda s: s.peak_bytes)
    raise SgmError(
        f"{chosen.model} needs {chosen.peak_bytes / GB:.2f} GB at its {worst.name} even with {chosen.settings.describe()}"
        f", more than the {chosen.budget_bytes / GB:.2f} GB available: lower the size, frames or batch, or use a "
        f"half-precision --dtype"
    )
