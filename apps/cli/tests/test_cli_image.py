"""`sgm sample` end to end for the image models: the catalog's entries pointed at tiny random-weight versions of
their configs (real text encoders, autoencoder and UNet; sgm.pipelines.testing), with the checkpoints in ./checkpoints
under the official file names (conftest.py)."""

from pathlib import Path

import numpy as np
from PIL import Image

from sgm.pipelines import catalog
from sgm.core.checkpoint import write_sparse_safetensors
from sgm_cli.main import main

RECORDED = ("model", "prompt", "seed", "sampler", "steps", "guidance")


def sgm(capsys, *argv) -> tuple[int, str, str]:
    status = main([*argv])
    out, err = capsys.readouterr()
    return status, out, err


def sample(capsys, *argv) -> list[Path]:
    status, out, err = sgm(capsys, "sample", "--device", "cpu", *argv)
    assert status == 0, err
    return [Path(line) for line in out.splitlines()]


def test_sd21_same_seed_same_bytes_never_overwritten_recorded_and_watermarked(capsys, workdir):
    args = ("--model", "sd-2.1", "--prompt", "a red fox", "--width", "256", "--height", "256", "--steps", "2",
            "--seed", "5")  # fmt: skip
    (first,) = sample(capsys, *args)
    (second,) = sample(capsys, *args)
    assert first.parent == second.parent == Path("outputs/sd-2.1") and first != second
    assert first.read_bytes() == second.read_bytes()
    with Image.open(first) as image:
        assert (image.format, image.size) == ("PNG", (256, 256))
        recorded = {key: image.text[key] for key in RECORDED}
    assert recorded == {"model": "sd-2.1", "prompt": "a red fox", "seed": "5", "sampler": "DPMPP2MSampler",
                        "steps": "2", "guidance": "6.0"}  # fmt: skip
    (other_seed,) = sample(capsys, *args[:-1], "6")
    assert other_seed.read_bytes() != first.read_bytes()
    status, out, _ = sgm(capsys, "detect", str(first))
    assert status == 0 and out.startswith(f"{first}: watermark present")


def test_sdxl_base_with_refiner_at_a_non_square_size(capsys, workdir):
    (path,) = sample(capsys, "--model", "sdxl-base", "--refiner", "sdxl-refiner", "--refiner-strength", "0.5",
                     "--prompt", "a lighthouse", "--width", "192", "--height", "128", "--steps", "2")  # fmt: skip
    with Image.open(path) as image:
        assert image.size == (192, 128)
        assert (image.text["model"], image.text["refiner"], image.text["refiner_strength"]) == (
            "sdxl-base", "sdxl-refiner", "0.5")  # fmt: skip


def test_sdxl_turbo_defaults_and_four_steps(capsys, workdir):
    (one,) = sample(capsys, "--model", "sdxl-turbo", "--prompt", "a cat", "--no-watermark")
    with Image.open(one) as image:
        assert image.size == (512, 512)
        assert {key: image.text[key] for key in ("sampler", "discretization", "steps", "guidance", "seed")} == {
            "sampler": "EulerAncestralSampler", "discretization": "TurboSubstepDiscretization", "steps": "1",
            "guidance": "1.0", "seed": "0"}  # fmt: skip
    (four,) = sample(capsys, "--model", "sdxl-turbo", "--prompt", "a cat", "--steps", "4", "--width", "128",
                     "--height", "128")  # fmt: skip
    assert Image.open(four).text["steps"] == "4"
    status, out, err = sgm(capsys, "sample", "--device", "cpu", "--model", "sdxl-turbo", "--steps", "5")
    assert status == 2 and out == "" and "1 to 4 steps" in err and err.count("\n") == 1


def test_img2img_keeps_the_init_images_size(capsys, workdir):
    ramp = np.linspace(0, 255, 320 * 256 * 3).reshape(256, 320, 3).astype(np.uint8)
    Image.fromarray(ramp).save("init.png")
    args = ("--model", "sd-2.1", "--init-image", "init.png", "--strength", "0.5", "--steps", "4", "--seed", "3")
    first, second = sample(capsys, *args), sample(capsys, *args)
    with Image.open(first[0]) as image:
        assert image.size == (320, 256) and image.text["strength"] == "0.5"
    assert first[0].read_bytes() == second[0].read_bytes()


def test_a_checkpoint_of_another_model_is_named_and_nothing_is_written(capsys, workdir):
    wrong = write_sparse_safetensors(workdir / "downloaded.safetensors", catalog.expected_layout("sdxl-refiner"))
    status, out, err = sgm(capsys, "sample", "--device", "cpu", "--model", "sd-2.1", "--ckpt", str(wrong))
    assert status == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("sgm: error: ") and "checkpoint of sdxl-refiner, not of sd-2.1" in err
    assert not (workdir / "outputs").exists()
