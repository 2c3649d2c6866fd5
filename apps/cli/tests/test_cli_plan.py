"""`sgm plan`: the per-stage table and the JSON contract (design.md), with no checkpoint present."""

import json

from sgm_cli.main import main


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
