"""Text to image, image to image (with the SDXL refiner), Turbo and the SV3D_u orbit through gradio_client against
the launched app, on the tiny random-weight sd-2.1, sdxl-base, sdxl-refiner, sdxl-turbo and sv3d-u (1 step)."""

import imageio.v3 as iio
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

SIDE = 256  # the size sliders' smallest value: 32x32 latents in the tiny models


@pytest.fixture
def client(app_url, recorder):
    recorder.step_seconds = 0.0
    return Client(app_url, verbose=False)


def lora_table(*rows) -> dict:
    """The LoRA control's value as gradio_client sends it: `[file, weight]` rows."""
    return {"headers": ["LoRA file", "weight"], "data": [list(row) for row in rows] or [["", 0]], "metadata": None}


def txt2img_args(model="sd-2.1", negative="", sampler="EulerEDMSampler", steps=1, guidance=5.0, refiner=False,
                 loras=()):  # fmt: skip
    """The /txt2img inputs in the tab's order, by name."""
    return {"model": model, "prompt": "a red cube", "negative_prompt": negative, "prompt_list": "", "width": SIDE,
            "height": SIDE, "num_samples": 1, "sampler": sampler, "steps": steps, "guidance": guidance,
            "refiner": refiner, "refiner_strength": 0.5, "loras": lora_table(*loras), "seed": 7}  # fmt: skip


def pixels(gallery) -> list[np.ndarray]:
    return [np.asarray(Image.open(item["image"])) for item in gallery]


def test_txt2img_uses_the_negative_prompt_and_its_parameters_come_back(client):
    args = txt2img_args(negative="blurry")
    gallery, files, params = client.predict(*args.values(), api_name="/txt2img")
    (image,) = pixels(gallery)
    assert image.shape == (SIDE, SIDE, 3)
    assert {key: params[key] for key in args if key != "loras"} == {k: v for k, v in args.items() if k != "loras"}
    assert params["loras"] == [["", 0]]
    restored = client.predict(params, api_name="/txt2img_reuse")
    assert restored[:-2] == tuple(args.values())[:-2] and restored[-1] == 7 and restored[-2]["data"] == [["", 0]]
    without, _, _ = client.predict(*txt2img_args(negative="").values(), api_name="/txt2img")
    assert not np.array_equal(image, pixels(without)[0])  # guidance steers away from the negative prompt


def test_sdxl_base_hands_over_to_the_refiner(client, recorder):
    recorder.stages.clear()
    gallery, _, params = client.predict(*txt2img_args("sdxl-base", steps=2, refiner=True).values(), api_name="/txt2img")
    assert [image.shape for image in pixels(gallery)] == [(SIDE, SIDE, 3)]
    assert params["refiner"] is True and params["refiner_strength"] == 0.5
    assert {"sampling", "refining"} <= recorder.stages


def test_the_refiner_is_refused_for_a_model_it_cannot_finish(client):
    with pytest.raises(AppError, match="The SDXL refiner finishes SDXL images only: untick it for sd-2.1"):
        client.predict(*txt2img_args("sd-2.1", refiner=True).values(), api_name="/txt2img")


def test_turbo_samples_in_one_step_without_guidance(client):
    args = txt2img_args("sdxl-turbo", sampler="EulerAncestralSampler", steps=1, guidance=1.0)
    gallery, _, params = client.predict(*args.values(), api_name="/txt2img")
    assert [image.shape for image in pixels(gallery)] == [(SIDE, SIDE, 3)]
    assert (params["model"], params["steps"]) == ("sdxl-turbo", 1)


def test_img2img_keeps_the_input_size_at_the_given_strength_then_refines(client, recorder, tmp_path):
    Image.new("RGB", (128, 64), (40, 90, 200)).save(tmp_path / "blue.png")
    recorder.stages.clear()
    args = {"model": "sdxl-base", "image": handle_file(tmp_path / "blue.png"), "mask": None, "prompt": "a boat",
            "negative_prompt": "fog", "prompt_list": "", "strength": 0.6, "num_samples": 2,
            "sampler": "EulerEDMSampler", "steps": 2, "guidance": 4.0, "refiner": True, "refiner_strength": 0.3,
            "loras": lora_table(), "seed": 3}  # fmt: skip
    gallery, _, params = client.predict(*args.values(), api_name="/img2img")
    assert [image.shape for image in pixels(gallery)] == [(64, 128, 3)] * 2
    assert params["image"] == "blue.png" and params["strength"] == 0.6
    assert {"sampling", "refining"} <= recorder.stages
    restored = client.predict(params, api_name="/img2img_reuse")
    assert restored[0] == "sdxl-base" and restored[3:-2] == tuple(args.values())[3:-2] and restored[-1] == 3
    assert restored[1] == restored[2] == {"__type__": "update"}  # gr.skip(): upload fields keep what the user has there


def test_sv3d_u_orbits_at_its_fixed_cameras(client, tmp_path):
    Image.new("RGBA", (32, 32), (200, 30, 30, 255)).save(tmp_path / "object.png")
    table = {"headers": ["elevation", "azimuth"], "data": [[10.0, 0.0], [10.0, 180.0]], "metadata": None}
    args = ("sv3d-u", handle_file(tmp_path / "object.png"), 2, 1, 1e-5, 2, 10.0, table, 4)
    video, files, params = client.predict(*args, api_name="/orbit")
    assert iio.imread(video, index=None).shape[:3] == (2, 16, 16)  # the tiny sv3d-u: 2 views of 16x16
    assert sorted(path.rsplit(".", 1)[-1] for path in files) == ["json", "mp4"]
    assert params["model"] == "sv3d-u" and params["num_frames"] == 2


def test_loras_from_the_folder_change_the_image_and_are_recorded(client, lora_file):
    plain, _, _ = client.predict(*txt2img_args().values(), api_name="/txt2img")
    styled, files, params = client.predict(*txt2img_args(loras=[(lora_file, 0.6)]).values(), api_name="/txt2img")
    assert not np.array_equal(pixels(plain)[0], pixels(styled)[0])
    assert params["loras"] == [[lora_file, 0.6]]
    (png,) = [path for path in files if path.endswith(".png")]
    text = Image.open(png).text
    assert text["loras"] == f'["{lora_file}:0.6"]' and "<lora:fox-style:0.6>" in text["parameters"]
    with pytest.raises(AppError, match="LoRA elsewhere.safetensors is not in the LoRA folder"):
        client.predict(*txt2img_args(loras=[("elsewhere.safetensors", 1.0)]).values(), api_name="/txt2img")
