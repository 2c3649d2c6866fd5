import json
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from sgm.pipelines import catalog
from sgm.core.checkpoint import write_sparse_safetensors
from sgm.core.watermark import embed_watermark, save_png
from sgm_cli.main import main

CLI_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def empty_workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(catalog.CHECKPOINT_DIR_ENV, raising=False)
    return tmp_path


def _run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("command", [[], ["sample"], ["models"], ["layout"], ["inspect"], ["detect"]])
def test_help_of_every_command(capsys, command):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert "usage: sgm" in capsys.readouterr().out


def test_models_table_shows_presence(capsys, empty_workdir):
    (empty_workdir / "checkpoints").mkdir()
    (empty_workdir / "checkpoints" / "svd_xt.safetensors").write_bytes(b"")
    status, out, _ = _run(capsys, "models")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:] if line.strip() and "folder" not in line}
    assert status == 0 and set(catalog.CATALOG) <= set(rows)
    assert rows["svd-xt"][-1] == "yes" and rows["sdxl-base"][-1] == "no"
    assert "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0" in rows["sdxl-base"]


def test_sample_without_checkpoint_is_one_line_and_writes_nothing(capsys, empty_workdir):
    status, out, err = _run(capsys, "sample", "--model", "sdxl-base", "--prompt", "a cat")
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("sgm: error: ")
    assert "sd_xl_base_1.0.safetensors" in err and str(empty_workdir / "checkpoints") in err and "huggingface" in err
    assert list(empty_workdir.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "sdxl"], "unknown model 'sdxl'"),
        (["--model", "sdxl-base", "--sampler", "Magic"], "unknown sampler 'Magic'"),
        (["--model", "sdxl-base", "--discretization", "cosine"], "unknown schedule 'cosine'"),
        (["--model", "sdxl-base", "--cfg", "inf"], "cfg must be a finite number, 0 or more, got inf"),
        (["--model", "sdxl-base", "--width", "1000"], "width 1000: sdxl-base needs a multiple of 64"),
        (["--model", "sd-2.1", "--steps", "0"], "steps must be a positive whole number, got 0"),
        (["--model", "sd-2.1", "--strength", "1.5"], "strength must be more than 0 and at most 1, got 1.5"),
        (["--model", "sd-2.1", "--init-image", "missing.png"], "image file not found: missing.png"),
        (["--model", "sd-2.1", "--class", "3"], "sd-2.1 is a txt2img model and takes no class_label"),
        (["--model", "digits", "--prompt", "a cat", "--width", "32"], "digits is a class2img model and takes no prompt, "
         "width"),
        (["--model", "digits", "--class", "12"], "class must be a whole number from 0 to 9"),
        (["--model", "svd"], "svd generates from an image: give it with --input PATH"),
        (["--model", "sd-2.1", "--output", "a-file.txt"], "output a-file.txt is a file"),
        (["--model", "sdxl-base", "--refiner", "sd-2.1"], "sd-2.1 is a txt2img model, not a refiner"),
        (["--model", "sdxl-base", "--ckpt", "nothing.safetensors"], "checkpoint file not found: nothing.safetensors"),
    ],
)
def test_sample_option_errors(capsys, empty_workdir, argv, message):
    if "a-file.txt" in argv:
        (empty_workdir / "checkpoints").mkdir()
        (empty_workdir / "checkpoints" / "v2-1_512-ema-pruned.safetensors").write_bytes(b"")
        (empty_workdir / "a-file.txt").write_text("mine")
    before = sorted(empty_workdir.rglob("*"))
    status, _, err = _run(capsys, "sample", *argv)
    assert status == 2 and message in err and err.count("\n") == 1
    assert sorted(empty_workdir.rglob("*")) == before  # nothing written


def test_unreadable_init_image(capsys, empty_workdir):
    (empty_workdir / "photo.png").write_text("not an image")
    status, _, err = _run(capsys, "sample", "--model", "sd-2.1", "--init-image", "photo.png")
    assert status == 2 and "photo.png is not a readable image" in err


def test_sample_hands_a_checked_request_to_the_models_pipeline(capsys, empty_workdir, monkeypatch):
    from sgm.kernels.backend import default_backend
    from sgm.pipelines import running

    requests = []

    def sample_and_save(pipelines, request, callback):
        requests.append((request, default_backend()))
        return []

    stub = SimpleNamespace(engine=SimpleNamespace(model=torch.nn.Linear(1, 1)))  # a loaded pipeline's place, on the CPU
    monkeypatch.setattr(running.PipelineCache, "use", lambda self, request, models, on_load=None: nullcontext([stub]))
    monkeypatch.setattr(running, "_run_image", sample_and_save)
    (empty_workdir / "checkpoints").mkdir()
    (empty_workdir / "checkpoints" / "sd_turbo.safetensors").write_bytes(b"")
    status, _, err = _run(capsys, "sample", "--model", "sd-turbo", "--prompt", "a fox", "--seed", "3", "--num", "2",
                          "--dtype", "fp16", "--no-watermark", "--attention", "math")  # fmt: skip
    assert status == 0, err
    ((request, backend),) = requests
    assert backend == "math" and request.attention == "math"
    assert (request.model, request.prompt, request.seed, request.num, request.dtype) == (
        "sd-turbo",
        "a fox",
        3,
        2,
        "fp16",
    )
    assert request.ckpt == Path("checkpoints/sd_turbo.safetensors") and request.output == Path("outputs/sd-turbo")
    assert request.watermark is False and (request.steps, request.cfg, request.sampler) == (None, None, None)


def test_inspect_garbage_file_is_one_line_exit_2(capsys, empty_workdir):
    (empty_workdir / "model.safetensors").write_bytes(b"\x00garbage")
    status, out, err = _run(capsys, "inspect", "model.safetensors")
    assert status == 2 and out == "" and err.count("\n") == 1 and "model.safetensors" in err


def test_inspect_reports_closest_model(capsys, empty_workdir, monkeypatch):
    layout = {"model.diffusion_model.w": [[4, 4], "float32"], "first_stage_model.decoder.b": [[2], "float32"]}
    monkeypatch.setattr("sgm.pipelines.catalog.catalog_layouts", lambda: ({"sdxl-base": layout}, {"svd": "missing"}))
    write_sparse_safetensors(empty_workdir / "fits.safetensors", layout)
    status, out, _ = _run(capsys, "inspect", "fits.safetensors")
    assert status == 0 and "fits: sdxl-base" in out and "not compared (model code not installed): svd" in out
    write_sparse_safetensors(empty_workdir / "partial.safetensors", {"model.diffusion_model.w": [[4, 4], "float16"]})
    status, out, _ = _run(capsys, "inspect", "partial.safetensors")
    assert "closest: sdxl-base (1 differences)" in out and "first_stage_model.decoder.*: 1 missing" in out


def test_detect_marks_watermarked_images(capsys, empty_workdir):
    y, x = np.mgrid[0:256, 0:256] / 255.0
    grain = np.random.default_rng(0).normal(0, 6, (256, 256, 3))
    texture = 0.5 + 0.25 * np.sin(x * 23) * np.cos(y * 17)
    image = np.clip(np.stack([x, y, texture], -1) * 255 + grain, 0, 255).astype(np.uint8)
    save_png(embed_watermark(image), empty_workdir / "marked.png")
    Image.fromarray(image).save(empty_workdir / "plain.png")
    (empty_workdir / "broken.png").write_text("x")
    status, out, err = _run(capsys, "detect", "marked.png", "plain.png", "broken.png")
    lines = out.splitlines()
    assert lines[0].startswith("marked.png: watermark present") and lines[1].startswith("plain.png: no watermark")
    assert status == 2 and "broken.png is not a readable image" in err


def test_layout_unknown_model(capsys):
    status, _, err = _run(capsys, "layout", "nope")
    assert status == 2 and "unknown model 'nope'" in err


def test_layout_prints_json_of_the_models_layout(capsys, monkeypatch):
    layout = {"b.weight": [[2], "float32"], "a.weight": [[3, 4], "float16"]}
    monkeypatch.setattr(catalog, "expected_layout", lambda name: layout)
    status, out, _ = _run(capsys, "layout", "sd-2.1")
    assert status == 0 and json.loads(out) == layout and out.splitlines()[1].startswith('"a.weight"')


def test_directory_entry_point_runs_like_uv_run_apps_cli(empty_workdir):
    # `uv run apps/cli ARGS` runs python on the directory, i.e. its __main__.py.
    result = subprocess.run(
        [sys.executable, str(CLI_DIR), "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0 and "inspect" in result.stdout


def test_module_entry_point_exit_status_and_stderr(empty_workdir):
    result = subprocess.run([sys.executable, "-m", "sgm_cli", "sample", "--model", "sdxl-base"],
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("sgm: error: sdxl-base: checkpoint sd_xl_base_1.0.safetensors not found")
    assert "Traceback" not in result.stderr and not (empty_workdir / "outputs").exists()


@pytest.mark.parametrize(
    "name", ["sd-2.1", "sd-2.1-768", "sdxl-base", "sdxl-refiner", "sdxl-turbo", "sd-turbo", "digits"]
)
def test_layout_of_image_models(capsys, name):
    status, out, _ = _run(capsys, "layout", name)
    layout = json.loads(out)
    assert status == 0 and layout == catalog.expected_layout(name)
    assert any(key.startswith("model.diffusion_model.") for key in layout)


def test_inspect_a_full_size_sdxl_file(capsys, empty_workdir):
    path = write_sparse_safetensors(empty_workdir / "sd_xl_base_1.0.safetensors", catalog.expected_layout("sdxl-base"))
    status, out, _ = _run(capsys, "inspect", str(path))
    assert status == 0 and "fits: sdxl-base, sdxl-turbo" in out and "not compared" not in out


def test_attention_choices_are_the_kernel_backends():
    from sgm.kernels.backend import BACKENDS
    from sgm_cli.commands.sample import ATTENTION_BACKENDS

    assert ATTENTION_BACKENDS == BACKENDS


def test_models_name_shows_the_defaults_of_the_config_and_the_options(capsys, empty_workdir):
    status, out, _ = _run(capsys, "models", "svd-xt")
    assert status == 0 and out.startswith("svd-xt (img2video)")
    defaults = catalog.get_entry("svd-xt").defaults  # the config's sampling block: one place for them
    assert f"    num_frames: {defaults['num_frames']}" in out and f"    fps: {defaults['fps']}" in out
    assert "--motion-bucket-id" in out and "--prompt" not in out
    status, _, err = _run(capsys, "models", "SDXL")
    assert status == 2 and "did you mean" in err and "sdxl-base" in err
