"""The app's endpoints through gradio_client against a launched app with stand-in pipelines."""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

DIGITS_ARGS = {"digit": "7", "num_samples": 3, "sampler": "EulerEDMSampler", "steps": 4, "guidance": 3.0}


@pytest.fixture
def client(app_url, stand_ins):
    stand_ins.step_seconds = 0.0
    return Client(app_url, verbose=False)


def digits(client, seed=5, **changes):
    args = {**DIGITS_ARGS, **changes}
    return client.predict("digits", *args.values(), seed, api_name="/digits")


def test_digits_returns_images_files_and_parameters(client):
    gallery, files, params = digits(client, seed=11)
    assert len(gallery) == 3
    assert np.asarray(Image.open(gallery[0]["image"]))[0, 0].tolist() == [175, 175, 175]
    assert params == {"model": "digits", **DIGITS_ARGS, "seed": 11}
    saved = [Path(f) for f in files]
    assert sorted(p.suffix for p in saved) == [".json", ".png", ".png", ".png"]
    assert json.loads(next(p for p in saved if p.suffix == ".json").read_text()) == params


def test_reuse_puts_a_results_parameters_back(client):
    _, _, params = digits(client, seed=99, digit="2")
    assert client.predict(params, api_name="/digits_reuse") == ("digits", *{**DIGITS_ARGS, "digit": "2"}.values(), 99)


def test_missing_checkpoint_names_the_file(client):
    with pytest.raises(AppError, match="v2-1_512-ema-pruned.safetensors"):
        client.predict("sd-2.1", "a cat", "", 512, 512, 1, "EulerEDMSampler", 4, 5.0, False, 0.15, 1,
                       api_name="/txt2img")  # fmt: skip


def test_one_failure_does_not_break_the_app(client):
    with pytest.raises(AppError, match="RuntimeError: the stand-in text-to-image pipeline always fails"):
        client.predict("sdxl-base", "a cat", "", 512, 512, 1, "EulerEDMSampler", 4, 5.0, False, 0.15, 1,
                       api_name="/txt2img")  # fmt: skip
    gallery, _, _ = digits(client)
    assert len(gallery) == 3


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [("notes.txt", b"hello", "must be one of"), ("broken.png", b"not an image", "not a readable image")],
)
def test_bad_image_uploads_get_a_clear_message(client, tmp_path, name, content, message):
    upload = tmp_path / name
    upload.write_bytes(content)
    with pytest.raises(AppError, match=message):
        client.predict("sdxl-base", handle_file(upload), "a cat", "", 0.5, 1, "EulerEDMSampler", 2, 5.0, False, 0.15, 1,
                       api_name="/img2img")  # fmt: skip


def test_image_to_video_returns_a_playable_mp4(client, tmp_path):
    Image.new("RGB", (64, 36), (10, 200, 30)).save(tmp_path / "scene.png")
    video, _, params = client.predict(
        "svd", handle_file(tmp_path / "scene.png"), 5, 2, 6, 127, 0.02, 5, 3, api_name="/img2vid"
    )
    frames = iio.imread(video, index=None)
    assert frames.shape[0] == 5 and frames.shape[1:3] == (36, 64)
    assert params["image"] == "scene.png" and params["fps_id"] == 6


def test_video_with_too_many_frames_is_refused(client, tmp_path):
    clip = tmp_path / "long.gif"
    frames = np.random.default_rng(0).integers(
        0, 255, (12, 16, 16, 3), dtype=np.uint8
    )  # distinct frames: a GIF merges repeats
    iio.imwrite(clip, frames, duration=50, loop=0)
    with pytest.raises(AppError, match="has 12 frames; use a video with 1 to 8 frames"):
        client.predict("sv4d2", handle_file(clip), 2, 10.0, 5, 0, api_name="/vid2_4d")


def test_requests_run_one_at_a_time(app_url, stand_ins):
    stand_ins.step_seconds = 0.05
    stand_ins.most_running = 0
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda seed: digits(Client(app_url, verbose=False), seed=seed, steps=5), range(3)))
    assert [r[2]["seed"] for r in results] == [0, 1, 2]
    assert stand_ins.most_running == 1


def test_stop_ends_the_run_between_steps(client, stand_ins):
    stand_ins.step_seconds = 0.1
    stand_ins.started.clear()
    job = client.submit("digits", *{**DIGITS_ARGS, "steps": 100}.values(), 3, api_name="/digits")
    assert stand_ins.started.wait(30)
    client.predict(api_name="/digits_stop")
    with pytest.raises(Exception):  # noqa: B017 -- gradio reports a cancelled job as an error or a cancellation
        job.result(timeout=30)
    deadline = time.monotonic() + 30
    while stand_ins.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stand_ins.running == 0
    assert stand_ins.steps_done[-1] < 100
