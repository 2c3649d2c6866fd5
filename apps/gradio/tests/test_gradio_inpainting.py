"""The image-to-image tab's mask editor through gradio_client, on the tiny random-weight sd-2.1: the painted layer is
the request's mask (the same file as `sgm sample --mask` makes), nothing painted is plain image to image, and a
mask that does not fit the image is one clear message."""

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

cli = pytest.importorskip("sgm_cli.main", reason="the CLI app is not installed")

WIDTH, HEIGHT = 128, 64
SETTINGS = {"prompt": "a boat", "negative_prompt": "", "prompt_list": "", "strength": 0.8, "num_samples": 1,
            "sampler": "EulerEDMSampler", "steps": 2, "guidance": 4.0, "refiner": False, "refiner_strength": 0.3,
            "loras": {"headers": ["LoRA file", "weight"], "data": [["", 0]], "metadata": None}, "seed": 3}  # fmt: skip


@pytest.fixture
def client(app_url, recorder):
    recorder.step_seconds = 0.0
    return Client(app_url, verbose=False)


@pytest.fixture
def files(tmp_path):
    """The input image, white strokes over the right half on a transparent layer, and the same mask in black and
    white; an empty layer; a layer of another shape."""
    blocks = np.random.default_rng(0).integers(0, 256, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
    Image.fromarray(blocks.repeat(8, axis=0).repeat(8, axis=1)).save(tmp_path / "input.png")
    strokes = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
    strokes[:, WIDTH // 2 :] = 255
    Image.fromarray(strokes).save(tmp_path / "strokes.png")
    Image.fromarray(strokes[..., 3]).save(tmp_path / "mask.png")
    Image.new("RGBA", (WIDTH, HEIGHT)).save(tmp_path / "empty.png")
    Image.new("RGBA", (WIDTH, WIDTH), "white").save(tmp_path / "square.png")
    return tmp_path


def img2img(client, folder, layer: str | None):
    """The /img2img call on sd-2.1 with `layer` painted in the editor (None: the editor left empty)."""
    editor = None
    if layer is not None:
        editor = {"background": handle_file(folder / "input.png"), "layers": [handle_file(folder / layer)],
                  "composite": None, "id": None}  # fmt: skip
    return client.predict("sd-2.1", handle_file(folder / "input.png"), editor, *SETTINGS.values(), api_name="/img2img")


def pixels(gallery) -> np.ndarray:
    (item,) = gallery
    return np.asarray(Image.open(item["image"]))


def test_painted_strokes_are_the_same_request_as_sgm_sample_mask(client, files, capsys):
    gallery, saved, params = img2img(client, files, "strokes.png")
    assert pixels(gallery).shape == (HEIGHT, WIDTH, 3)
    assert params["mask"].startswith("mask-") and params["mask"].endswith(".png")
    (web,) = [path for path in saved if path.endswith(".png")]
    status = cli.main(["sample", "--model", "sd-2.1", "--init-image", str(files / "input.png"), "--mask",
                       str(files / "mask.png"), "--prompt", "a boat", "--strength", "0.8", "--sampler",
                       "EulerEDMSampler", "--steps", "2", "--cfg", "4.0", "--seed", "3", "--device", "cpu", "--output",
                       str(files / "cli")])  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0
    with open(web, "rb") as from_web, open(out.split()[0], "rb") as from_cli:
        assert from_web.read() == from_cli.read()


def test_an_unpainted_editor_is_plain_image_to_image(client, files):
    plain, _, params = img2img(client, files, None)
    empty, _, empty_params = img2img(client, files, "empty.png")
    assert params["mask"] is None and empty_params["mask"] is None
    assert np.array_equal(pixels(plain), pixels(empty))
    painted, _, _ = img2img(client, files, "strokes.png")
    assert not np.array_equal(pixels(plain), pixels(painted))


def test_masks_that_do_not_fit_the_image_are_one_clear_message(client, files):
    with pytest.raises(AppError, match="mask is 128x128 but the init image is 128x64: give a mask of the image's"):
        img2img(client, files, "square.png")
    layers = {"background": None, "layers": [handle_file(files / "strokes.png"), handle_file(files / "square.png")],
              "composite": None, "id": None}  # fmt: skip
    with pytest.raises(AppError, match="The mask's layers differ in size"):
        client.predict("sd-2.1", handle_file(files / "input.png"), layers, *SETTINGS.values(), api_name="/img2img")
