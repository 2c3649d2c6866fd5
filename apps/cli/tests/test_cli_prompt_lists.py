"""`sgm sample --prompts FILE`: outputs named in line order with each line's seed, bad lines refused before any
model loads, a restarted run skipping what is written, a failure naming the prompts it cost; and the same list
across two Lightning Fabric processes (gloo, on the CPU) writing the same bytes under the same names as one."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import MappingProxyType

import pytest
from PIL import Image

import sgm.pipelines as pipelines
from sgm.pipelines import catalog
from sgm.pipelines.testing import install_tiny_model
from sgm_cli.main import main

SMALL = {"width": 64, "height": 64, "steps": 2}
LIST = 'a red fox\n\n{"prompt": "a lighthouse", "seed": 77, "negative_prompt": "fog"}\na blue cat\n' \
       '{"prompt": "a boat", "width": 128}\n'  # fmt: skip
# Stands in for the `sgm` command in the processes Fabric starts: the catalog's sd-2.1 entry points at the tiny
# config the test wrote (the test's own catalog is not inherited by a new process), one torch thread each.
LAUNCHER = """
import dataclasses, json, os, sys
import torch
from sgm.pipelines import catalog
from sgm.pipelines.testing import FileResource
from sgm_cli.main import main

torch.set_num_threads(1)
for name, spec in json.loads(os.environ["SGM_TEST_TINY_MODELS"]).items():
    catalog.CATALOG[name] = dataclasses.replace(catalog.CATALOG[name], config=FileResource(spec["config"]),
                                                overrides=spec["overrides"])
sys.exit(main())
"""


@pytest.fixture(scope="module")
def tiny_sd21(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-sd21")
    return folder / "checkpoints", install_tiny_model("sd-2.1", folder / "checkpoints", folder / "configs",
                                                      defaults=SMALL)  # fmt: skip


@pytest.fixture
def workdir(tmp_path, monkeypatch, tiny_sd21):
    checkpoints, entry = tiny_sd21
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(catalog.CHECKPOINT_DIR_ENV, str(checkpoints))
    monkeypatch.setattr(catalog, "CATALOG", MappingProxyType(dict(catalog.CATALOG) | {"sd-2.1": entry}))
    Path("prompts.txt").write_text(LIST)
    return tmp_path


def sgm(capsys, *argv) -> tuple[int, str, str]:
    status = main(["sample", "--model", "sd-2.1", "--device", "cpu", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_outputs_are_named_in_line_order_with_each_lines_seed(capsys, workdir):
    status, out, err = sgm(capsys, "--prompts", "prompts.txt", "--seed", "10")
    assert status == 0, err
    folder = Path("outputs/sd-2.1/prompts")
    assert out.split() == [str(folder / f"00000{n}.png") for n in (1, 2, 3, 4)]
    texts = [Image.open(folder / f"00000{n}.png").text for n in (1, 2, 3, 4)]
    assert [(t["prompt"], t["seed"]) for t in texts] == [("a red fox", "10"), ("a lighthouse", "77"),
                                                         ("a blue cat", "12"), ("a boat", "13")]  # fmt: skip
    assert texts[1]["negative_prompt"] == "fog" and Image.open(folder / "000004.png").size == (128, 64)
    assert sorted(p.name for p in folder.iterdir()) == [f"00000{n}.png" for n in (1, 2, 3, 4)]  # no leftovers


def test_a_restarted_run_writes_only_what_is_missing(capsys, workdir):
    assert sgm(capsys, "--prompts", "prompts.txt", "--output", "out")[0] == 0
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in Path("out").iterdir()}
    Path("out/000003.png").unlink()
    (Path("out") / ".partial-000004").mkdir()  # a crash while line 4's files were being moved
    status, out, _ = sgm(capsys, "--prompts", "prompts.txt", "--output", "out")
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in Path("out").iterdir()}
    assert status == 0 and len(out.split()) == 4 and after.keys() == before.keys()
    assert [after[name] == before[name] for name in sorted(before)] == [True, True, False, False]
    assert [after[name][0] == before[name][0] for name in sorted(before)] == [True] * 4  # the same bytes again


def test_several_images_per_line_are_numbered_after_the_line(capsys, workdir):
    Path("two.txt").write_text('{"prompt": "a fox", "num": 2}\na cat\n')
    status, out, _ = sgm(capsys, "--prompts", "two.txt", "--output", "out")
    assert status == 0 and [Path(p).name for p in out.split()] == ["000001-01.png", "000001-02.png", "000002.png"]


def test_a_bad_line_is_named_before_anything_loads(capsys, workdir, monkeypatch):
    monkeypatch.setattr(pipelines, "run", lambda *a, **k: pytest.fail("nothing may run"))
    Path("bad.txt").write_text('a fox\n{"prompt": "a cat", "steps": 0}\n')
    status, out, err = sgm(capsys, "--prompts", "bad.txt")
    assert status == 2 and out == "" and err.count("\n") == 1
    assert "bad.txt line 2: steps must be a positive whole number" in err
    assert not Path("outputs").exists()
    assert "give --prompt or --prompts, not both" in sgm(capsys, "--prompts", "bad.txt", "--prompt", "x")[2]
    assert "give it with --prompts FILE" in sgm(capsys, "--devices", "2")[2]


def test_a_failure_names_the_prompts_it_cost_and_the_rest_are_kept(capsys, workdir, monkeypatch):
    real_run = pipelines.run

    def failing_on_cats(request, **kwargs):
        if "cat" in request.prompt:
            raise RuntimeError("out of memory")
        return real_run(request, **kwargs)

    monkeypatch.setattr(pipelines, "run", failing_on_cats)
    status, out, err = sgm(capsys, "--prompts", "prompts.txt", "--output", "out")
    assert status == 1 and [Path(p).name for p in out.split()] == ["000001.png", "000002.png"]
    assert "rank 0 failed on prompt 3 (RuntimeError: out of memory); prompts it did not write: 3, 4" in err
    assert "prompts not written: 3, 4; run the same command again" in err


def _launch(workdir: Path, tiny_sd21, output: str, devices: int) -> subprocess.CompletedProcess:
    checkpoints, entry = tiny_sd21
    launcher = workdir / "launch_sgm.py"
    launcher.write_text(textwrap.dedent(LAUNCHER))
    models = {"sd-2.1": {"config": entry.config.path, "overrides": dict(entry.overrides)}}
    env = {**os.environ, "SGM_TEST_TINY_MODELS": json.dumps(models), catalog.CHECKPOINT_DIR_ENV: str(checkpoints),
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    command = [sys.executable, str(launcher), "sample", "--model", "sd-2.1", "--device", "cpu", "--prompts",
               "prompts.txt", "--output", output, "--devices", str(devices)]  # fmt: skip
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.slow
def test_two_processes_write_the_same_bytes_under_the_same_names_as_one(capsys, workdir, tiny_sd21):
    assert sgm(capsys, "--prompts", "prompts.txt", "--output", "one")[0] == 0
    two = _launch(workdir, tiny_sd21, "two", devices=2)
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.split() == [f"two/00000{n}.png" for n in (1, 2, 3, 4)]  # rank 0 lists them, in order
    one = {p.name: p.read_bytes() for p in Path("one").iterdir()}
    assert {p.name: p.read_bytes() for p in Path("two").iterdir()} == one
