"""What users bring from other tools, through `sgm sample` and `sgm inspect` on the tiny image models (conftest.py):
LoRA files (--lora, --lora-merge), PNGs other tools read and that repeat themselves (--from-png), and checkpoints in
the Hugging Face cache."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from safetensors.torch import save_file

from sgm.core.checkpoint import read_layout
from sgm.pipelines import catalog
from sgm.pipelines.testing import put_in_hf_cache, random_lora
from sgm_cli.main import main

TINY = ("--device", "cpu", "--width", "64", "--height", "64", "--steps", "2")


def sgm(capsys, *argv) -> tuple[int, str, str]:
    status = main([*argv])
    out, err = capsys.readouterr()
    return status, out, err


def sample(capsys, *argv) -> list[Path]:
    status, out, err = sgm(capsys, "sample", *argv)
    assert status == 0, err
    return [Path(line) for line in out.splitlines()]


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


@pytest.fixture(scope="module")
def sdxl_attention_lora() -> dict:
    """A LoRA for the real sdxl-base's first attention (made before the tests point the catalog at tiny models)."""
    full = {key: shape for key, (shape, _) in catalog.expected_layout("sdxl-base").items()}
    return random_lora(full, seed=2, rank=1, only=".input_blocks.4.1.transformer_blocks.0.attn2.")


@pytest.fixture
def loras(workdir, monkeypatch) -> Path:
    """./loras (the default LoRA folder) with a LoRA over every layer of the tiny sd-2.1, and one over the tiny
    sdxl-base's."""
    monkeypatch.delenv("SGM_LORA_DIR", raising=False)
    folder = workdir / "loras"
    folder.mkdir()
    for name, file in (("sd-2.1", "fox-style.safetensors"), ("sdxl-base", "sdxl-style.safetensors")):
        tiny = {key: shape for key, (shape, _) in read_layout(catalog.find_checkpoint(name)).items()}
        save_file(random_lora(tiny, seed=1), folder / file)
    return folder


def test_lora_flags_change_the_image_and_are_recorded(capsys, loras):
    args = ("--model", "sd-2.1", "--prompt", "a red fox", "--seed", "5", *TINY)
    (plain,) = sample(capsys, *args)
    (styled,) = sample(capsys, *args, "--lora", "fox-style.safetensors:0.7")
    (merged,) = sample(capsys, *args, "--lora", str(loras / "fox-style.safetensors:0.7"), "--lora-merge")
    assert not np.array_equal(pixels(styled), pixels(plain))
    assert np.abs(pixels(styled).astype(int) - pixels(merged)).max() <= 2  # merged: the same numbers, rounded apart
    text = Image.open(styled).text
    assert json.loads(text["loras"]) == ["fox-style.safetensors:0.7"]
    assert text["parameters"].startswith("a red fox <lora:fox-style:0.7>\nSteps: 2, Sampler: DPM++ 2M, ")
    status, out, err = sgm(capsys, "sample", *args, "--lora", "sdxl-style.safetensors")
    assert status == 2 and out == "" and err.count("\n") == 1
    assert "sdxl-style.safetensors is not a LoRA for sd-2.1: " in err and "it fits sdxl-base, sdxl-turbo" in err
    status, _, err = sgm(capsys, "sample", "--lora", "fox-style.safetensors")
    assert status == 2 and "digits is a class2img model and takes no loras" in err


def test_inspect_recognises_a_lora_file(capsys, tmp_path, sdxl_attention_lora):
    save_file(sdxl_attention_lora, tmp_path / "attention.safetensors")
    status, out, _ = sgm(capsys, "inspect", str(tmp_path / "attention.safetensors"))
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == f"{tmp_path / 'attention.safetensors'}: a LoRA (kohya), 4 layers in 12 keys"
    assert "fits sdxl-base: 4 of 4 layers match" in lines and "fits sdxl-turbo: 4 of 4 layers match" in lines


def test_from_png_repeats_the_image_and_takes_changes(capsys, loras):
    (first,) = sample(capsys, "--model", "sd-2.1", "--prompt", "a (red:1.3) fox", "--negative-prompt", "fog",
                      "--seed", "9", "--sampler", "dpm_2", "--cfg", "4.5", "--lora", "fox-style.safetensors:0.5",
                      *TINY)  # fmt: skip
    (again,) = sample(capsys, "--from-png", str(first), "--device", "cpu")
    assert again.read_bytes() == first.read_bytes()
    (other_seed,) = sample(capsys, "--from-png", str(first), "--device", "cpu", "--seed", "10")
    text = Image.open(other_seed).text
    assert (text["seed"], text["prompt"], text["sampler"], text["loras"]) == (
        "10", "a (red:1.3) fox", "dpm_2", '["fox-style.safetensors:0.5"]')  # fmt: skip


def test_from_png_reads_automatic1111s_parameters(capsys, workdir):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a lighthouse,\nat dusk\nNegative prompt: fog\nSteps: 2, Sampler: Euler a, "
                  'Schedule type: Karras, CFG scale: 3, Seed: 11, Size: 64x128, Model hash: 31e35c80fc, Model: '
                  'v2-1_512-ema-pruned, Lora hashes: "x: 1234", Version: v1.10.1')  # fmt: skip
    Image.new("RGB", (64, 128)).save(workdir / "a1111.png", pnginfo=info)
    (made,) = sample(capsys, "--from-png", "a1111.png", "--device", "cpu")
    text = Image.open(made).text
    assert Image.open(made).size == (64, 128)
    assert {key: text[key] for key in ("model", "prompt", "negative_prompt", "sampler", "discretization", "steps",
                                       "guidance", "seed")} == {
        "model": "sd-2.1", "prompt": "a lighthouse,\nat dusk", "negative_prompt": "fog",
        "sampler": "EulerAncestralSampler", "discretization": "KarrasDiscretization", "steps": "2",
        "guidance": "3.0", "seed": "11"}  # fmt: skip
    Image.new("RGB", (8, 8)).save(workdir / "plain.png")
    status, _, err = sgm(capsys, "sample", "--from-png", "plain.png")
    assert status == 2 and "plain.png carries no generation parameters" in err


def test_a_checkpoint_in_the_hugging_face_cache_is_sampled(capsys, workdir, monkeypatch):
    official = (workdir / "checkpoints" / "v2-1_512-ema-pruned.safetensors").resolve()
    (workdir / "checkpoints").unlink()
    monkeypatch.setenv("HF_HUB_CACHE", str(workdir / "hub"))
    status, _, err = sgm(capsys, "sample", "--model", "sd-2.1", *TINY)
    assert status == 2 and f"nor in the Hugging Face cache {workdir / 'hub'}" in err
    put_in_hf_cache(workdir / "hub", "stabilityai/stable-diffusion-2-1-base", official.name, official)
    (path,) = sample(capsys, "--model", "sd-2.1", *TINY)
    assert Image.open(path).size == (64, 64)
    status, out, _ = sgm(capsys, "models", "sd-2.1")
    assert status == 0 and "models--stabilityai--stable-diffusion-2-1-base" in out
