"""The AUTOMATIC1111 routes through the real `webuiapi` client, against a launched server (page and API together)
running the tiny models: txt2img, img2img, models and options, the samplers list, progress while a run goes on,
interrupt; inpainting with a mask; and bad values as a 422 naming the field."""

import base64
import io
import threading
import time

import numpy as np
import pytest
import requests
import webuiapi
from PIL import Image

SMALL = {"width": 64, "height": 64, "steps": 2}


@pytest.fixture(scope="module")
def served(tiny_models, serve, tmp_path_factory):
    served = serve(["--output", str(tmp_path_factory.mktemp("api-outputs")), "--device", "cpu"])
    yield served
    served.stop()


@pytest.fixture
def api(served) -> webuiapi.WebUIApi:
    served.runs.step_seconds = 0.0
    client = webuiapi.WebUIApi(host="127.0.0.1", port=served.port)
    client.util_set_model("sd-2.1", find_closest=False)
    return client


def test_the_page_and_the_api_share_the_server(served):
    page = requests.get(served.url + "/", timeout=30)
    assert page.status_code == 200 and "open to this machine only" in page.text


def test_models_and_options_switch_the_model(api):
    assert {"sd-2.1", "sdxl-base", "sdxl-turbo"} <= set(api.util_get_model_names())
    assert "sd-2.1-768" not in api.util_get_model_names()  # no checkpoint in the test folder
    api.util_set_model("sdxl-base", find_closest=False)
    assert api.util_get_current_model() == "sdxl-base"
    result = api.txt2img(prompt="a lighthouse", seed=3, cfg_scale=5, **SMALL)
    assert result.info["sd_model_name"] == "sdxl-base"


def test_txt2img_same_seed_same_pixels_and_a_batch(api):
    first = api.txt2img(prompt="a red fox", seed=5, sampler_name="Euler a", cfg_scale=5, **SMALL)
    again = api.txt2img(prompt="a red fox", seed=5, sampler_name="Euler a", cfg_scale=5, **SMALL)
    assert len(first.images) == 1 and first.image.size == (64, 64)
    assert np.array_equal(np.asarray(first.image), np.asarray(again.image))
    assert (first.info["seed"], first.info["sampler_name"], first.info["steps"], first.info["cfg_scale"]) == (
        5, "EulerAncestralSampler", 2, 5.0)  # fmt: skip
    batch = api.txt2img(prompt="a red fox", seed=-1, batch_size=2, cfg_scale=5, **SMALL)
    assert len(batch.images) == 2 and 0 <= batch.info["seed"] < 2**32
    assert batch.parameters["batch_size"] == 2


def test_img2img_from_a_base64_image(api):
    ramp = np.linspace(0, 255, 96 * 80 * 3).reshape(80, 96, 3).astype(np.uint8)
    result = api.img2img(images=[Image.fromarray(ramp)], prompt="oil painting", denoising_strength=0.5, seed=2,
                         cfg_scale=5, **SMALL)  # fmt: skip
    assert len(result.images) == 1 and result.image.size == (64, 64)  # resized to width x height, as AUTOMATIC1111
    assert result.info["denoising_strength"] == 0.5


def test_samplers_list_and_their_labels_run(api):
    names = api.util_get_sampler_names()
    assert {"Euler", "Euler a", "DPM++ 2M", "DPM++ 2M SDE"} <= set(names)
    euler_a = next(s for s in api.get_samplers() if s["name"] == "Euler a")
    assert "euler_ancestral" in euler_a["aliases"]
    result = api.txt2img(prompt="a cat", seed=1, sampler_name="DPM++ 2M Karras", cfg_scale=5, **SMALL)
    assert len(result.images) == 1


def test_progress_while_running_and_interrupt(api, served):
    served.runs.step_seconds = 0.05
    served.runs.started.clear()
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(result=api.txt2img(
        prompt="slow", seed=4, width=64, height=64, steps=400, cfg_scale=5)))  # fmt: skip
    worker.start()
    assert served.runs.started.wait(60)
    deadline = time.monotonic() + 30
    while (progress := api.get_progress())["state"]["sampling_step"] < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    state = progress["state"]
    assert state["sampling_steps"] == 400 and 3 <= state["sampling_step"] < 400
    assert 0 < progress["progress"] < 1 and state["job_count"] == 1 and progress["eta_relative"] > 0
    started = time.monotonic()
    api.interrupt()
    worker.join(60)
    assert time.monotonic() - started < 10  # stopped between steps, not after 400 of them
    assert outcome["result"].images == [] and outcome["result"].info["interrupted"] is True
    idle = api.get_progress()
    assert idle["progress"] == 0 and idle["state"]["job_count"] == 0


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"steps": 0}, "steps", "greater than or equal to 1"),
        ({"width": 100}, "width", "width 100: sd-2.1 needs a multiple of 64"),
        ({"sampler_name": "Eulr"}, "sampler_name", "unknown sampler 'Eulr'"),
        ({"scheduler": "karas"}, "scheduler", "unknown schedule 'karas'"),
        ({"seed": -7}, "seed", "seed must be a whole number"),
        ({"batch_size": 9}, "batch_size", "at most 8 images per request"),
        ({"width": 4096}, "width", "width may be at most 1024"),
        ({"override_settings": {"sd_model_checkpoint": "sd-9"}}, "sd_model_checkpoint", "is not one of"),
    ],
)
def test_bad_values_are_a_422_naming_the_field(served, api, changes, field, message):
    body = {"prompt": "x", "unknown_field": [1, 2], "enable_hr": False, **SMALL, **changes}
    answer = requests.post(f"{served.url}/sdapi/v1/txt2img", json=body, timeout=60)
    assert answer.status_code == 422, answer.text
    (detail,) = answer.json()["detail"]
    assert detail["loc"][-1] == field and message in detail["msg"]


def test_img2img_with_a_mask_inpaints(api, served):
    """AUTOMATIC1111's `mask` (white = repaint) reaches the pipelines' inpainting; a mask that is not an image is a
    422 naming the field."""
    ramp = np.linspace(0, 255, 64 * 64 * 3).reshape(64, 64, 3).astype(np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[:, 32:] = 255
    result = api.img2img(images=[Image.fromarray(ramp)], mask_image=Image.fromarray(mask), prompt="a boat",
                         denoising_strength=0.8, seed=3, cfg_scale=5, **SMALL)  # fmt: skip
    assert len(result.images) == 1 and result.image.size == (64, 64)
    body = {"init_images": [_png_base64(ramp)], "mask": "not base64!", **SMALL}
    answer = requests.post(f"{served.url}/sdapi/v1/img2img", json=body, timeout=30)
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "mask"]


def _png_base64(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()