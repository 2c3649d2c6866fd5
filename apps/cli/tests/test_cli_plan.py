"""`sgm plan`: the per-stage table and the JSON contract (design.md), with no checkpoint present."""

import json

from sgm_cli.commands import sample
from sgm_cli.main import build_parser, main


def test_plan_json_has_the_contract_keys(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "--model", "sd-2.1", "--device", "cpu", "--dtype", "bf16", "--vram", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"model", "peak_bytes", "fits", "settings", "stages"} <= set(result)
    assert result["model"] == "sd-2.1" and result["fits"] is True
    assert result["peak_bytes"] == max(stage["peak_bytes"] for stage in result["stages"]) <= 4 * 2**30
    assert [stage["name"] for stage in result["stages"]] == ["conditioning", "sampling step", "vae decode"]


def test_plan_table_and_refused_options(capsys):
    assert main(["plan", "--model", "digits", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["stage", "weights", "activations", "peak"]
    assert "offload none" in out
    assert main(["plan", "--model", "svd", "--vae-tiling", "--device", "cpu"]) == 2
    assert "takes no vae_tiling" in capsys.readouterr().err


def test_split_guidance_reaches_the_request_and_halves_the_planned_step(capsys):
    def request(*options):
        return sample.build_request(build_parser().parse_args(["sample", *options]))

    assert request("--split-guidance").split_guidance is True
    assert request("--no-split-guidance").split_guidance is False
    assert request().split_guidance is None  # the plan chooses
    steps = {}
    for flag in ("--no-split-guidance", "--split-guidance"):
        assert main(["plan", "--model", "sd-2.1", "--device", "cpu", "--dtype", "bf16", flag, "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["settings"]["split_guidance"] is (flag == "--split-guidance")
        steps[flag] = next(s["activation_bytes"] for s in result["stages"] if s["name"] == "sampling step")
    assert steps["--split-guidance"] < steps["--no-split-guidance"]


def test_a_gpu_plan_on_a_machine_without_one(capsys, monkeypatch):
    """Planning loads nothing, so `--device cuda --vram GB` plans CUDA's kernels here; without --vram there is no
    free memory to read, which is one line."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["plan", "--model", "sd-2.1", "--device", "cuda", "--vram", "6", "--json"]) == 0
    on_gpu = json.loads(capsys.readouterr().out)
    assert on_gpu["device"] == "cuda" and on_gpu["budget_bytes"] == 6 * 2**30 and on_gpu["fits"]
    assert main(["plan", "--model", "sd-2.1", "--device", "cuda", "--vram", "6", "--dtype", "bf16", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == on_gpu  # a run on CUDA loads bf16 unless told otherwise
    assert main(["plan", "--model", "sd-2.1", "--device", "cpu", "--dtype", "bf16", "--vram", "6", "--json"]) == 0
    on_cpu = json.loads(capsys.readouterr().out)
    assert on_cpu["device"] == "cpu"
    # the same weights; the CPU's convolutions take scratch beside their outputs, CUDA's fused attention less
    decode = {plan["device"]: next(s for s in plan["stages"] if s["name"] == "vae decode") for plan in (on_gpu, on_cpu)}
    assert decode["cuda"]["weights_bytes"] == decode["cpu"]["weights_bytes"]
    assert decode["cuda"]["activation_bytes"] < decode["cpu"]["activation_bytes"]
    assert main(["plan", "--model", "sd-2.1", "--device", "cuda"]) == 2
    assert "give --vram GB" in capsys.readouterr().err
