"""`/v1/jobs` against a launched API-only server (`--no-ui`) on the tiny models: an image job and a video job
from submission to files, cancellation, refused fields; and the queue's bound."""

import base64
import io
import time

import imageio.v3 as iio
import pytest
import requests
from PIL import Image
from sgm.pipelines import Request
from sgm_gradio.job_queue import CANCELLED, JobQueue, QueueFull


@pytest.fixture(scope="module")
def served(tiny_models, serve, tmp_path_factory):
    served = serve(["--output", str(tmp_path_factory.mktemp("jobs-outputs")), "--device", "cpu", "--no-ui"])
    yield served
    served.stop()


def finished(served, job: dict, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
        job = requests.get(f"{served.url}/v1/jobs/{job['id']}", timeout=30).json()
    return job


def submit(served, body: dict) -> requests.Response:
    return requests.post(f"{served.url}/v1/jobs", json=body, timeout=60)


def png_base64(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_an_image_job_from_submission_to_its_file(served):
    served.runs.step_seconds = 0.0
    answer = submit(served, {"model": "sd-2.1", "prompt": "a fox", "seed": 3, "steps": 2, "width": 64, "height": 64})
    assert answer.status_code == 202 and answer.headers["Location"] == f"/v1/jobs/{answer.json()['id']}"
    job = finished(served, answer.json())
    assert job["state"] == "done" and job["progress"]["fraction"] == 1 and job["error"] is None
    (file,) = job["files"]
    image = Image.open(io.BytesIO(requests.get(served.url + file["url"], timeout=30).content))
    assert image.size == (64, 64) and image.text["seed"] == "3"


def test_a_video_job_takes_its_image_as_base64(served):
    served.runs.step_seconds = 0.0
    body = {"model": "svd", "input": png_base64(64, 36), "num_frames": 3, "steps": 2, "decoding_t": 3,
            "format": "gif", "seed": 1}  # fmt: skip
    job = finished(served, submit(served, body).json())
    assert job["state"] == "done", job["error"]
    (file,) = job["files"]
    frames = iio.imread(io.BytesIO(requests.get(served.url + file["url"], timeout=30).content), index=None)
    assert frames.shape[0] == 3


def test_delete_cancels_a_running_job(served):
    served.runs.step_seconds = 0.05
    served.runs.started.clear()
    job = submit(served, {"model": "sd-2.1", "prompt": "slow", "steps": 400, "width": 64, "height": 64}).json()
    assert served.runs.started.wait(60)
    answer = requests.delete(f"{served.url}/v1/jobs/{job['id']}", timeout=30)
    assert answer.status_code == 200
    job = finished(served, answer.json(), timeout=30)
    assert job["state"] == "cancelled" and job["progress"]["step"] < 400 and job["files"] == []
    assert requests.get(f"{served.url}/v1/jobs/unknown", timeout=30).status_code == 404


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"prompt": "x"}, "model", "model is required"),
        ({"model": "sd-9"}, "model", "unknown model 'sd-9'"),
        ({"model": "sd-2.1", "device": "cuda"}, "device", "device is set by the server"),
        ({"model": "sd-2.1", "colour": "red"}, "colour", "colour is not a request field"),
        ({"model": "sd-2.1", "steps": -1}, "steps", "steps must be a positive whole number"),
        ({"model": "sd-2.1", "fps": 7}, "fps", "takes no fps"),
        ({"model": "svd", "input": "bm90IGFuIGltYWdl"}, "input", "input is not a PNG"),
        ({"model": "svd", "num_frames": 99, "input": png_base64(8, 8)}, "num_frames", "num_frames may be at most"),
    ],
)
def test_bad_fields_are_a_422_naming_them(served, body, field, message):
    answer = submit(served, body)
    assert answer.status_code == 422, answer.text
    (detail,) = answer.json()["detail"]
    assert detail["loc"][-1] == field and message in detail["msg"]


def test_the_models_list_names_every_model_and_its_task(served):
    models = {m["name"]: m for m in requests.get(f"{served.url}/v1/models", timeout=30).json()}
    assert models["svd"]["task"] == "img2video" and models["sd-2.1"]["present"]
    assert not models["sd-2.1-768"]["present"]


def test_the_api_alone_has_no_page(served):
    assert requests.get(served.url + "/", timeout=30).status_code == 404


def test_a_full_queue_refuses_and_a_waiting_job_cancels_at_once(tmp_path):
    release = __import__("threading").Event()
    queue = JobQueue(max_waiting=1, runner=lambda request, **_: release.wait(30) and [])
    first = queue.submit(Request(output=tmp_path))
    while queue.waiting():  # the worker took the first job
        time.sleep(0.01)
    second = queue.submit(Request(output=tmp_path))
    with pytest.raises(QueueFull, match="1 jobs are waiting"):
        queue.submit(Request(output=tmp_path))
    assert queue.position(second) == 0
    queue.cancel(second)
    assert second.state == CANCELLED and second.wait(0) and queue.waiting() == 0
    release.set()
    assert first.wait(30) and first.state == "done"
