"""`sgm sample --mask` end to end on tiny random-weight sd-2.1 and sdxl-base (real text encoders, autoencoder and
UNet; sgm.pipelines.testing). A random autoencoder's decoder mixes the whole image (group norms, attention), so the
kept region is compared in the latents, recorded as the pipeline finishes."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sgm.pipelines.image import ImagePipeline
from sgm_cli.main import main

WIDTH, HEIGHT = 192, 128  # latents 24 x 16
MODELS = ("sd-2.1", "sdxl-base")


@pytest.fixture
def workdir(workdir):
    """conftest's working directory with the tiny models, plus init.png and masks keeping the left part."""
    blocks = np.random.default_rng(0).integers(0, 256, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
    Image.fromarray(blocks.repeat(8, axis=0).repeat(8, axis=1)).save("init.png")
    for name, column in (("black", WIDTH), ("half", WIDTH // 2), ("white", 0)):
        mask = np.zeros((HEIGHT, WIDTH), np.uint8)
        mask[:, column:] = 255
        Image.fromarray(mask).save(f"{name}.png")
    return workdir


@pytest.fixture
def latents(monkeypatch) -> list[torch.Tensor]:
    """The latents of every sample the pipelines finish, in order."""
    finished, finish = [], ImagePipeline.finish
    monkeypatch.setattr(ImagePipeline, "finish", lambda self, z, *args: finished.append(z) or finish(self, z, *args))
    return finished


def sample(capsys, model: str, *argv: str) -> Path:
    status = main(["sample", "--device", "cpu", "--model", model, "--init-image", "init.png", "--strength", "0.8",
                   "--steps", "3", "--seed", "4", "--prompt", "a red chair", "--no-watermark", *argv])  # fmt: skip
    out, err = capsys.readouterr()
    assert status == 0, err
    (path,) = out.split()
    return Path(path)


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


@pytest.mark.parametrize("model", MODELS)
def test_the_kept_half_stays_the_inputs_and_the_masked_half_is_repainted(capsys, workdir, latents, model):
    plain = sample(capsys, model)
    kept_all = sample(capsys, model, "--mask", "black.png")
    half = sample(capsys, model, "--mask", "half.png")
    _, all_input, inpainted = latents
    left = WIDTH // 16  # the mask's black half in latent columns
    assert torch.equal(inpainted[..., :left], all_input[..., :left])  # the input's latents, as an all-black mask gives
    assert (inpainted[..., left:] - all_input[..., left:]).abs().mean() > 0.1
    with Image.open(half) as image:
        assert image.size == (WIDTH, HEIGHT) and image.text["inpainted"] == "True"
    assert "inpainted" not in Image.open(plain).text
    assert not np.array_equal(pixels(kept_all), pixels(half))


def test_an_all_white_mask_gives_the_pixels_of_plain_img2img(capsys, workdir):
    plain, white = sample(capsys, "sd-2.1"), sample(capsys, "sd-2.1", "--mask", "white.png")
    assert np.array_equal(pixels(plain), pixels(white))


@pytest.mark.parametrize(
    ("argv", "message"),
    [(("--init-image", "init.png", "--mask", "missing.png"), "mask file not found: missing.png"),
     (("--init-image", "init.png", "--mask", "notes.png"), "cannot read mask notes.png"),
     (("--init-image", "init.png", "--mask", "wide.png"), "mask is 192x64 but the init image is 192x128"),
     (("--mask", "half.png"), "a mask says what to repaint in an init image: give the image with --init-image"),
     (("--model", "digits", "--mask", "half.png"), "digits is a class2img model and takes no mask")],
)  # fmt: skip
def test_bad_masks_are_one_line_errors_and_nothing_is_written(capsys, workdir, argv, message):
    Path("notes.png").write_text("not an image")
    Image.new("L", (WIDTH, 64)).save("wide.png")
    status = main(["sample", "--device", "cpu", "--model", "sd-2.1", *argv])
    out, err = capsys.readouterr()
    assert status == 2 and out == "" and err.count("\n") == 1 and message in err
    assert not Path("outputs").exists()
