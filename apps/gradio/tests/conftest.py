"""A launched app whose tabs call stand-in pipelines: they exercise the app (queue, stop, uploads, errors, files,
parameters) without model weights. Each stand-in reports its steps through the hooks like a real sampler."""

import socket
import threading
import time
from dataclasses import dataclass, field

import pytest
from PIL import Image
from sgm_gradio.app import build_app
from sgm_gradio.outputs import RunOutput
from sgm_gradio.uploads import UploadLimits, load_image, load_video_frames

MISSING_MODEL = "sd-2.1"
MISSING_MESSAGE = "put v2-1_512-ema-pruned.safetensors into ./checkpoints/ (from stabilityai/stable-diffusion-2-1-base)"


@dataclass
class StandIns:
    """Records what the stand-in pipelines did, for the tests to check."""

    running: int = 0
    most_running: int = 0
    steps_done: list[int] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)
    step_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def steps(self, settings, hooks) -> None:
        with self.lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        done = 0
        try:
            total = int(settings["steps"])
            for done in range(total):
                hooks.step("sampling", done, total)
                self.started.set()
                time.sleep(self.step_seconds)
            done = total
        finally:
            with self.lock:
                self.running -= 1
                self.steps_done.append(done)

    def digits(self, model, settings, hooks) -> RunOutput:
        self.steps(settings, hooks)
        shade = 25 * int(settings["digit"])
        return RunOutput(images=[Image.new("RGB", (32, 32), (shade, shade, shade))] * int(settings["num_samples"]))

    def txt2img(self, model, settings, hooks) -> RunOutput:
        raise RuntimeError("the stand-in text-to-image pipeline always fails")

    def img2img(self, model, settings, hooks) -> RunOutput:
        image = load_image(settings["image"])
        self.steps(settings, hooks)
        return RunOutput(images=[image] * int(settings["num_samples"]))

    def img2vid(self, model, settings, hooks) -> RunOutput:
        image = load_image(settings["image"])
        self.steps(settings, hooks)
        return RunOutput(videos=[[image] * int(settings["num_frames"])], fps=int(settings["fps_id"]) + 1)

    def orbit(self, model, settings, hooks) -> RunOutput:
        image = load_image(settings["image"])
        return RunOutput(videos=[[image.rotate(row[1]) for row in settings["orbit"]]])

    def vid2_4d(self, model, settings, hooks) -> RunOutput:
        frames = load_video_frames(settings["video"], UploadLimits(max_frames=8))
        self.steps(settings, hooks)
        return RunOutput(videos=[frames, frames[::-1]])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def stand_ins() -> StandIns:
    return StandIns()


@pytest.fixture(scope="session")
def app_url(stand_ins, tmp_path_factory):
    runners = {key: getattr(stand_ins, key) for key in ("digits", "txt2img", "img2img", "img2vid", "orbit", "vid2_4d")}
    app = build_app(
        runners,
        checkpoint_status=lambda model: MISSING_MESSAGE if model == MISSING_MODEL else None,
        output_dir=tmp_path_factory.mktemp("outputs"),
    )
    _, url, _ = app.launch(server_port=_free_port(), prevent_thread_lock=True, quiet=True, show_error=True)
    yield url
    app.close()
