"""The app's endpoints through gradio_client against a launched app running the real pipelines on tiny models."""

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
ON_CPU = {"device": "cpu", "dtype": "fp32", "attention": "auto"}  # how the test app runs, recorded with each result
NO_LORAS = {"headers": ["LoRA file", "weight"], "data": [["", 0]], "metadata": None}
TXT2IMG_ARGS = ("a cat", "", "", 512, 512, 1, "EulerEDMSampler", 4, 5.0, False, 0.15, NO_LORAS, 1)


@pytest.fixture
def client(app_url, recorder):
    recorder.step_seconds = 0.0
    return Client(app_url, verbose=False)


def digits(client, seed=5, **changes):
    args = {**DIGITS_ARGS, **changes}
    return client.predict("digits", *args.values(), seed, api_name="/digits")


def pixels(gallery) -> list[np.ndarray]:
    return [np.asarray(Image.open(item["image"])) for item in gallery]


def random_clip(path: Path, frames: int, side: int) -> Path:
    """A GIF of distinct random frames (a GIF merges repeated ones)."""
    array = np.random.default_rng(0).integers(0, 255, (frames, side, side, 3), dtype=np.uint8)
    iio.imwrite(path, array, duration=50, loop=0)
    return path


def test_digits_returns_images_files_and_parameters(client):
    gallery, files, params = digits(client, seed=11)
    assert [image.shape[:2] for image in pixels(gallery)] == [(256, 256)] * 3  # the digits' 16x16, enlarged
    assert params == {"model": "digits", **DIGITS_ARGS, "seed": 11, **ON_CPU}
    saved = [Path(f) for f in files]
    assert sorted(p.suffix for p in saved) == [".json", ".png", ".png", ".png"]
    assert json.loads(next(p for p in saved if p.suffix == ".json").read_text()) == params


def test_a_seed_gives_the_same_digits_again(client):
    first, second, other = (pixels(digits(client, seed=seed)[0]) for seed in (11, 11, 12))
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert not np.array_equal(first[0], other[0])


def test_reuse_puts_a_results_parameters_back(client):
    _, _, params = digits(client, seed=99, digit="2")
    assert client.predict(params, api_name="/digits_reuse") == ("digits", *{**DIGITS_ARGS, "digit": "2"}.values(), 99)


def test_missing_checkpoint_names_the_file(client):
    with pytest.raises(AppError, match="v2-1_768-ema-pruned.safetensors"):
        client.predict("sd-2.1-768", *TXT2IMG_ARGS, api_name="/txt2img")


def test_one_failure_does_not_break_the_app(client, tmp_path):
    Image.new("RGB", (64, 36), (10, 200, 30)).save(tmp_path / "scene.png")
    with pytest.raises(AppError, match="is not a safetensors checkpoint"):
        client.predict("svd-xt", handle_file(tmp_path / "scene.png"), 2, 1, 6, 127, 0.02, 2, 3, api_name="/img2vid")
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
        client.predict("sdxl-base", handle_file(upload), None, "a cat", "", "", 0.5, 1, "EulerEDMSampler", 2, 5.0,
                       False, 0.15, NO_LORAS, 1, api_name="/img2img")  # fmt: skip


def test_image_to_video_returns_a_playable_mp4(client, tmp_path):
    Image.new("RGB", (64, 36), (10, 200, 30)).save(tmp_path / "scene.png")
    video, _, params = client.predict(
        "svd", handle_file(tmp_path / "scene.png"), 3, 2, 7, 127, 0.02, 2, 3, api_name="/img2vid"
    )
    frames = iio.imread(video, index=None)
    assert frames.shape[:3] == (3, 16, 32)  # the tiny svd's 16x32 frames
    assert params["image"] == "scene.png" and params["fps"] == 7


def test_orbit_follows_the_camera_table(client, tmp_path):
    Image.new("RGB", (32, 32), (200, 30, 30)).save(tmp_path / "object.png")
    table = {"headers": ["elevation", "azimuth"], "data": [[10.0, 180.0], [20.0, 0.0]], "metadata": None}
    args = ("sv3d-p", handle_file(tmp_path / "object.png"), 2, 1, 1e-5, 2, 10.0, table, 4)
    video, _, params = client.predict(*args, api_name="/orbit")
    assert iio.imread(video, index=None).shape[:3] == (2, 16, 16)
    assert params["orbit"] == table["data"]
    with pytest.raises(AppError, match="The orbit table has 2 views but Frames is 3"):
        client.predict(*args[:2], 3, *args[3:], api_name="/orbit")


def test_video_to_4d_returns_one_video_per_view(client, tmp_path):
    clip = random_clip(tmp_path / "object.gif", frames=3, side=16)
    video, files, params = client.predict("sv4d2", handle_file(clip), 1, 10.0, 4, 0, api_name="/vid2_4d")
    assert iio.imread(video, index=None).shape[:3] == (3, 16, 16)  # the tiny sv4d2: 3 frames, 2 views
    assert sorted(Path(f).suffix for f in files) == [".json", ".mp4", ".mp4"]
    assert params["video"] == "object.gif"


def test_video_with_too_many_frames_is_refused(client, tmp_path):
    clip = random_clip(tmp_path / "long.gif", frames=301, side=2)
    with pytest.raises(AppError, match="has 301 frames; use a video with 1 to 300 frames"):
        client.predict("sv4d2", handle_file(clip), 2, 10.0, 5, 0, api_name="/vid2_4d")


def test_requests_run_one_at_a_time(app_url, recorder):
    recorder.step_seconds = 0.05
    recorder.most_running = 0
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda seed: digits(Client(app_url, verbose=False), seed=seed, steps=5), range(3)))
    assert [r[2]["seed"] for r in results] == [0, 1, 2]
    assert recorder.most_running == 1


def test_stop_ends_the_run_between_steps(client, recorder):
    recorder.step_seconds = 0.1
    recorder.started.clear()
    job = client.submit("digits", *{**DIGITS_ARGS, "steps": 100}.values(), 3, api_name="/digits")
    assert recorder.started.wait(30)
    client.predict(api_name="/digits_stop")
    with pytest.raises(Exception):  # noqa: B017 -- gradio reports a cancelled job as an error or a cancellation
        job.result(timeout=30)
    deadline = time.monotonic() + 30
    while recorder.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert recorder.running == 0
    assert recorder.steps_done[-1] < 100


def test_trained_digits_weights_draw_digits(client, real_digits):
    gallery, _, params = digits(client, seed=3, num_samples=4, steps=20)
    images = np.stack(pixels(gallery)).astype(float)
    assert images.shape[:3] == (4, 256, 256) and params["steps"] == 20  # 16x16, written enlarged
    assert images.std() > 20  # strokes on a background, not one flat shade


def test_progress_reports_the_stage_and_step(client, recorder):
    recorder.step_seconds = 0.1
    job = client.submit("digits", *{**DIGITS_ARGS, "steps": 6}.values(), 4, api_name="/digits")
    seen = set()
    while not job.done():
        for unit in job.status().progress_data or []:
            seen.add((unit.desc, unit.index, unit.length))
        time.sleep(0.02)
    job.result(timeout=30)
    sampling = {(index, length) for desc, index, length in seen if desc == "sampling"}
    assert {length for _, length in sampling} == {6} and len(sampling) > 1  # the bar moves from step to step
