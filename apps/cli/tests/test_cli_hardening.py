"""The first hour of a user and an attacker: each mistake is one line, exit status 2 and nothing written; the
command's rough edges (version, names, pipes, progress in a log) behave as a user expects."""

import subprocess
import sys

import pytest
import torch
from PIL import Image

from sgm.pipelines import catalog
from sgm_cli.main import main


@pytest.fixture(autouse=True)
def empty_workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(catalog.CHECKPOINT_DIR_ENV, raising=False)
    return tmp_path


def _one_line_error(capsys, *argv) -> str:
    status = main(list(argv))
    out, err = capsys.readouterr()
    assert status == 2 and out == "" and err.startswith("sgm: error: ") and err.count("\n") == 1, err
    return err


def _cli(*argv, **options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sgm_cli", *argv], capture_output=True, text=True, timeout=300,
                          check=False, **options)  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--steps", "1000000000000"], "steps 1000000000000 is more than digits can take: at most 1000"),
        (["--num", "100000000"], "num 100000000 is more than digits can take: at most 100"),
        (["--model", "sdxl-base", "--width", "16384"], "16384x1024 (from --width/--height) is more than sdxl-base"),
        (["--model", "sd-2.1", "--init-image", "bomb.png"], "bomb.png declares 12000x12000 pixels (144 MP)"),
    ],
)
def test_numbers_and_images_that_would_exhaust_memory_are_one_line(capsys, empty_workdir, argv, message):
    Image.new("1", (12000, 12000)).save(empty_workdir / "bomb.png")
    assert message in _one_line_error(capsys, "sample", *argv)
    assert [p.name for p in empty_workdir.iterdir()] == ["bomb.png"]


def test_detect_on_a_huge_image_is_one_line(capsys, empty_workdir):
    Image.new("1", (12000, 12000)).save(empty_workdir / "bomb.png")
    assert "bomb.png declares 12000x12000 pixels" in _one_line_error(capsys, "detect", "bomb.png")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_device_cuda_without_a_gpu_is_one_line(capsys, empty_workdir):
    assert "device cuda is not available on this machine: use --device cpu" in _one_line_error(
        capsys, "sample", "--device", "cuda"
    )
    assert list(empty_workdir.iterdir()) == []


def test_model_names_in_another_spelling(capsys):
    assert main(["layout", "SDXL-Base"]) == 0 and "model.diffusion_model." in capsys.readouterr().out
    assert "sdxl-base: checkpoint sd_xl_base_1.0.safetensors not found" in _one_line_error(
        capsys, "sample", "--model", "sdxl_base"
    )
    assert main(["models", "svdxt"]) == 0 and "svd_xt.safetensors" in capsys.readouterr().out


def test_version_on_the_top_level_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and out.startswith("sgm-cli 0.1") and "sgm-core" in out and out.count("\n") == 1


def test_output_piped_into_head_ends_quietly(empty_workdir):
    process = subprocess.Popen([sys.executable, "-m", "sgm_cli", "layout", "sdxl-base"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)  # fmt: skip
    assert process.stdout.readline() == b"{\n"
    process.stdout.close()  # as `head -1` does once it has its line
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141 and stderr == ""


def test_progress_lines_reach_a_log_file(empty_workdir):
    result = _cli("sample", "--steps", "3", "--seed", "1")
    assert result.returncode == 0, result.stderr
    assert "digits: sampling 3/3" in result.stderr.splitlines()
