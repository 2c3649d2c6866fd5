"""The issue's memory targets, by the plan at each model's default size in bf16 (a CUDA device's kernels): prints a
Markdown table for BENCHMARKS.md; exits 1 when a target does not hold.

    uv run python packages/sgm-pipelines/bench/plan_targets.py
"""

import sys
import time

from sgm.pipelines import Request, catalog, plan
from sgm.pipelines.planning import GB

# (what the issue asks, model, budget in GB, the offload modes allowed, fastest first)
TARGETS = [
    ("SVD-XT 25 x 576x1024 in 24 GB without CPU offloading", "svd-xt", 24, ("none",)),
    ("SV4D 2.0 in 24 GB without CPU offloading", "sv4d2", 24, ("none",)),
    ("SDXL base 1024x1024 in 8 GB with model offloading", "sdxl-base", 8, ("model",)),
    ("SDXL base 1024x1024 in 4 GB with sequential offloading", "sdxl-base", 4, ("sequential",)),
    ("SVD-XT in 8 GB with offloading", "svd-xt", 8, ("model", "sequential")),
]


def main() -> int:
    print("| target | options chosen | planned peak | holds |")
    print("| --- | --- | ---: | --- |")
    failed = 0
    for what, model, budget, modes in TARGETS:
        start = time.perf_counter()
        plans = [plan(Request(model=model, dtype="bf16", device="cpu", offload=mode), budget * GB, "cuda")
                 for mode in modes]  # fmt: skip
        # the fastest mode that fits (modes are listed fastest first), else the smallest peak
        chosen = next((p for p in plans if p.fits), min(plans, key=lambda p: p.peak_bytes))
        failed += not chosen.fits
        print(f"| {what} | {chosen.settings.describe()} | {chosen.peak_bytes / GB:.2f} GB | "
              f"{'yes' if chosen.fits else 'no'} |")  # fmt: skip
        print(f"{model}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    print("\n| model (defaults, bf16, no offloading, its own chunking) | planned peak | within 80 GB |")
    print("| --- | ---: | --- |")
    for name, entry in catalog.CATALOG.items():
        start = time.perf_counter()
        full = plan(Request(model=name, dtype="bf16", device="cpu", offload="none"), target="cuda")  # no budget
        failed += full.peak_bytes > 80 * GB
        print(f"| {name} | {full.peak_bytes / GB:.2f} GB | {'yes' if full.peak_bytes <= 80 * GB else 'no'} |")
        print(f"{name}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
