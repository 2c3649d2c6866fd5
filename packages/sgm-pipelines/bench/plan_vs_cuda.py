"""The memory plan against `torch.cuda.max_memory_allocated` at the models' default sizes, one stage at a time, and
offloading's placements on a real accelerator. Prepared to run in one call on a GPU machine (no checkpoints
needed: random weights of the full configs, built from the catalog on the device):

    python packages/sgm-pipelines/bench/plan_vs_cuda.py [--dtype bf16] [--models sdxl-base svd-xt ...]

(on the GPU machine, through run_gpu_bench.sh plan_vs_cuda, which installs the carried wheels first)

Each stage runs the same probe the plan runs on the meta device (`stage_probes`), with all weights on the device
(offload none, each model's own chunking); a stage's measured peak is the CUDA allocator's peak over the stage
(reset at its start) minus nothing: weights are on the device, as the plan counts them. Prints a Markdown table;
exits 1 when a stage is off by more than 15%.
"""

import argparse
import contextlib
import sys
import time
from dataclasses import replace

import torch

from sgm.pipelines import Request, catalog
from sgm.pipelines.loading import apply_dtype_policy, wrap_engine
from sgm.pipelines.offloading import Offloader
from sgm.pipelines.planning import Planner, RuntimeSettings
from sgm.pipelines.stage_probes import probe_parts, run_image_probe, run_video_probe, video_probe_host_inputs

DEFAULT_MODELS = ("sdxl-base", "svd-xt", "sv3d-u", "sv4d2")  # the default sizes: the catalog's defaults
TOLERANCE = 0.15
MiB = 2**20


def device_pipeline(name: str, dtype: str, device: torch.device, reference_views=None):
    """The catalog model with random weights on `device`, as loading would place them (SV4D with the SV3D_u
    pipeline that makes its reference views)."""
    from sgm.core.inference import optimize_for_inference

    entry = catalog.get_entry(name)
    engine = catalog.build_model(name, device=str(device))
    for parameter in engine.parameters():
        parameter.data.normal_(std=0.02)
    apply_dtype_policy(engine, dtype, cast=True)
    engine = optimize_for_inference(engine, device)
    sampler_config = catalog.model_config(name).params.get("sampler_config")
    return wrap_engine(engine, entry.defaults, sampler_config, name=name, device=device, watermark=False,
                       reference_views=reference_views, size_multiple=entry.size_multiple)  # fmt: skip


def measured(pipeline, shape, device) -> dict[str, int]:
    peaks = {}

    @contextlib.contextmanager
    def stage(name: str, component: str):
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        yield
        torch.cuda.synchronize(device)
        peaks[name] = torch.cuda.max_memory_allocated(device)

    with torch.no_grad():
        if hasattr(pipeline, "sampling"):
            run_video_probe(pipeline, shape, stage, video_probe_host_inputs(pipeline, shape))
        else:
            run_image_probe(pipeline, shape, stage)
    return peaks


def check_offloading(pipeline, shape, device) -> str:
    """Where each component's weights are when it runs, under model offloading: all on the device."""
    with Offloader(pipeline.engine, device, "model") as offloader:
        measured(pipeline, shape, device)
    where = {(name, str(dev)) for name, dev in offloader.placements}
    home = {str(next(c.parameters()).device) for c in (pipeline.engine.conditioner, pipeline.engine.model)}
    return f"placements while running: {sorted(where)}; after the run: {sorted(home)}"


def compare(name: str, dtype: str, device: torch.device) -> list[tuple[str, int, int]]:
    """`(stage, planned peak, measured peak)` for catalog model `name` at its defaults (each model's own chunking,
    no offloading); prints where the weights are under model offloading to stderr."""
    entry = catalog.get_entry(name)
    planner = Planner(entry, Request(model=name, dtype=dtype))
    settings = RuntimeSettings(decoding_t=entry.defaults.get("decoding_t"), encoding_t=entry.defaults.get(
        "encoding_t") if entry.task == "video2views" else None, vae_tiling=None if entry.is_video else False)
    planned = planner.plan_for(settings, None, "cuda")
    shape = replace(planner.shape, encoding_t=settings.encoding_t, decoding_t=settings.decoding_t)
    companion = entry.defaults.get("reference_views_model")  # SV4D's SV3D_u: loaded beside it, as a run does
    reference = device_pipeline(companion, dtype, device) if companion else None
    pipeline = device_pipeline(name, dtype, device, reference_views=reference)
    real = {}
    for part, part_shape in probe_parts(pipeline, shape):  # the plan names the companion's stages after it
        prefix = "" if part is pipeline else f"{part.name} "
        real.update({prefix + stage: peak for stage, peak in measured(part, part_shape, device).items()})
    print(f"{name}: {check_offloading(pipeline, shape, device)}", file=sys.stderr)
    return [(stage.name, stage.peak_bytes, real[stage.name]) for stage in planned.stages]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dtype", default="bf16")
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    args = parser.parse_args()
    device = torch.device("cuda")
    print(f"device: {torch.cuda.get_device_name(device)}, torch {torch.__version__}, {args.dtype}\n")
    print("| model | stage | planned MiB | max_memory_allocated MiB | error |")
    print("| --- | --- | ---: | ---: | ---: |")
    worst = 0.0
    for name in args.models:
        start = time.perf_counter()
        for stage, planned, real in compare(name, args.dtype, device):
            error = (planned - real) / real
            worst = max(worst, abs(error))
            print(f"| {name} | {stage} | {planned / MiB:.0f} | {real / MiB:.0f} | {error:+.1%} |")
        print(f"{name}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
        torch.cuda.empty_cache()
    print(f"\nlargest error {worst:.1%} (limit {TOLERANCE:.0%})")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
