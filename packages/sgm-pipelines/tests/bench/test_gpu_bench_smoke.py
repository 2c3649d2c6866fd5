"""The GPU comparison script (bench/gpu_e2e.py) runs end to end on the CPU with tiny models (`--smoke`): the code a
GPU session runs in its one call is the same, only the sizes, dtype and device differ."""

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "gpu_e2e.py"


def _bench_module():
    spec = importlib.util.spec_from_file_location("gpu_e2e", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_smoke_run_reports_every_comparison(tmp_path):
    out = tmp_path / "e2e.json"
    _bench_module().main(["--smoke", "--json", str(out)])
    report = json.loads(out.read_text())
    assert report["device"] == "cpu (--smoke)"
    rows = {(row["model"], row["impl"]): row for row in report["results"]}
    assert set(rows) == {("sdxl-base", "sgm none"), ("sdxl-base", "diffusers eager (SDPA)"),
                         ("sdxl-base", "sgm none, channels-last"), ("sdxl-base", "sgm VAE decode eager"),
                         ("svd-xt", "sgm none"), ("svd-xt", "diffusers eager (SDPA)")}  # fmt: skip
    assert all(row.get("unet_ms_per_step", row.get("vae_decode_ms")) > 0 for row in rows.values())
    whole_images = [row for row in rows.values() if "seconds_per_image" in row]
    assert len(whole_images) == 2 and all(row["seconds_per_image"] > 0 for row in whole_images)


def test_without_a_gpu_or_smoke_it_says_what_to_do(monkeypatch):
    module = _bench_module()
    monkeypatch.setattr(module.torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match="--smoke"):
        module.main([])
