"""The memory plan against the CPU allocator's records, stage by stage, for every model family at a mid size.

Each family's shipped config is made tiny (sgm.pipelines.testing / sgm.video.testing), then widened (`MID_WIDTHS`)
and run at sizes where activations are megabytes, not kilobytes: the plan (meta device, `planning.probe_activations`)
and the measured peak (random weights on the CPU, `memory_measurement.measured_activations`) run the same stage
probes, over each model of a run of two (`stage_probes.probe_parts`: SDXL with its refiner, SV4D with SV3D_u).
Prints a Markdown table for BENCHMARKS.md; exits 1 when a stage is off by more than 15%.

    uv run python packages/sgm-pipelines/bench/plan_vs_cpu.py
"""

import functools
import platform
import sys
import time

import torch
from omegaconf import OmegaConf

from sgm.pipelines import build_pipeline, catalog
from sgm.pipelines.memory_measurement import measured_activations
from sgm.pipelines.planning import probe_activations
from sgm.pipelines.stage_probes import ProbeShape, probe_parts
from sgm.pipelines.testing import tiny_image_config
from sgm.video.testing import make_tiny_config

TOLERANCE = 0.15
MID_WIDTHS = {"model_channels": 64, "ch": 64}  # the UNet's and the VAE's base widths (tiny: 32)
# SV4D 2.0's camera embedding ties adm_in_channels to the UNet's width: only its VAE is widened.
VAE_ONLY = {"sv4d2"}
FAMILIES = {  # label: (model, tiny config, mid shape, the model the run adds: a refiner, or reference views)
    "sd-2.1": ("sd-2.1", tiny_image_config, ProbeShape(256, 256, batch=2, img2img=True), None),
    "sdxl-base": ("sdxl-base", tiny_image_config, ProbeShape(256, 256, batch=2), None),
    "sdxl-base + refiner": ("sdxl-base", tiny_image_config, ProbeShape(256, 256, batch=2), "sdxl-refiner"),
    "svd-xt": ("svd-xt", make_tiny_config, ProbeShape(256, 128, frames=8, decoding_t=4), None),
    "sv3d-u": ("sv3d-u", make_tiny_config, ProbeShape(128, 128, frames=8, decoding_t=4), None),
    "sv4d": ("sv4d", make_tiny_config, ProbeShape(128, 128, frames=3, encoding_t=4, decoding_t=4), "sv3d-u"),
    "sv4d2": ("sv4d2", make_tiny_config, ProbeShape(128, 128, frames=3, encoding_t=4, decoding_t=4), None),
}


def widened(config, name: str):
    """`config` with the UNet's and the VAE's base widths set to MID_WIDTHS (head widths and the rest kept)."""
    widths = {"ch": MID_WIDTHS["ch"]} if name in VAE_ONLY else MID_WIDTHS

    def visit(node):
        if isinstance(node, dict):
            for key, value in widths.items():
                if key in node:
                    node[key] = value
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    container = OmegaConf.to_container(config, resolve=True)
    visit(container["model"])
    return OmegaConf.create(container)


def parts(build, name: str, tiny, shape: ProbeShape, other: str | None):
    """`probe_parts` of a run of model `name` (and `other`) built by `build(config, name=..., **options)`."""
    model = functools.partial(build, widened(tiny(name), name), name=name)
    if other is None:
        return probe_parts(model(), shape)
    added = build(widened(tiny(other), other), name=other)
    if catalog.get_entry(other).task == "img2img":  # a refiner
        return probe_parts(model(), shape, refiner=added)
    return probe_parts(model(reference_views=added), shape)


def compare(name: str, tiny, shape: ProbeShape, other: str | None = None) -> list[tuple[str, int, int]]:
    """`(stage, planned bytes, measured bytes)` of one family (activations: the weights are the same numbers on
    both sides); the added model's stages named after it."""
    torch.manual_seed(0)
    cpu, meta = (functools.partial(build_pipeline, device=device) for device in ("cpu", "meta"))
    rows = []
    for (planned_on, part_shape), (measured_on, _) in zip(parts(meta, name, tiny, shape, other),
                                                          parts(cpu, name, tiny, shape, other)):  # fmt: skip
        prefix = "" if planned_on.name == name else f"{planned_on.name} "
        planned = probe_activations(planned_on, part_shape, target="cpu")
        measured = measured_activations(measured_on, part_shape)
        rows += [(prefix + stage, planned[stage][1], measured[stage][1]) for stage in planned]
    return rows


def main() -> int:
    torch.set_num_threads(1)  # the CPU kernels' per-thread scratch buffers scale with threads
    print(f"machine: {platform.processor() or platform.machine()}, {platform.system()}, torch {torch.__version__}, "
          f"1 thread\n")  # fmt: skip
    print("| model | size | stage | planned MiB | measured MiB | error | planned - measured bytes |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    worst = 0.0
    for label, (name, tiny, shape, other) in FAMILIES.items():
        start = time.perf_counter()
        rows = compare(name, tiny, shape, other)
        size = f"{shape.width}x{shape.height}" + (f" x{shape.frames}" if shape.frames > 1 else f" batch {shape.batch}")
        for stage, planned, measured in rows:
            error = (planned - measured) / measured
            worst = max(worst, abs(error))
            print(f"| {label} | {size} | {stage} | {planned / 2**20:.2f} | {measured / 2**20:.2f} | {error:+.1%} | "
                  f"{planned - measured:+d} |")  # fmt: skip
        print(f"{label}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    print(f"\nlargest error {worst:.1%} (limit {TOLERANCE:.0%})")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
