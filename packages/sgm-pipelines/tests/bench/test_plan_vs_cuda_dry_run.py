"""The GPU check of the memory plan (bench/plan_vs_cuda.py) walks the same stages as the plan: run here on the meta
device with CUDA's memory calls stubbed (no numbers to compare without a GPU), for SV4D, whose run has SV3D_u's
stages first, so the one device call a GPU session makes does not die on a missing stage."""

import importlib.util
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[2] / "bench" / "plan_vs_cuda.py"


def test_the_measured_stages_are_the_planned_ones(monkeypatch):
    spec = importlib.util.spec_from_file_location("plan_vs_cuda", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for name in ("synchronize", "reset_peak_memory_stats"):
        monkeypatch.setattr(torch.cuda, name, lambda *args, **kwargs: None)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda *args, **kwargs: 1)
    monkeypatch.setattr(bench, "check_offloading", lambda *args: "")  # moves weights: needs a real device
    rows = bench.compare("sv4d", "bf16", torch.device("meta"))
    assert [stage for stage, _, _ in rows] == ["sv3d-u conditioning", "sv3d-u sampling step", "sv3d-u vae decode",
                                               "conditioning", "sampling step", "vae decode"]  # fmt: skip
    assert all(planned > 2**30 and measured == 1 for _, planned, measured in rows)  # GBs of weights planned
