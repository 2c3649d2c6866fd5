"""A launched app running the real pipelines on tiny random-weight models, found through the catalog as the CLI
finds them: the catalog's entries point at tiny configs (the digits model's own shipped config; sgm-core's tiny
sd-2.1, sdxl-base, sdxl-refiner, sdxl-turbo; sgm-video's tiny svd, sv3d-u, sv3d-p, sv4d2) and their checkpoints
lie under their official names in `$SGM_CHECKPOINT_DIR`; `$SGM_LORA_DIR` holds a LoRA for the tiny sd-2.1.

The real runners are wrapped to record their steps (and optionally pause after each), so tests can see a run
start, stop it, and count how many runs overlap. `serve(argv)` launches the server `uv run apps/gradio` runs (page
and HTTP API) in a thread, its runs slowed per step on demand."""

import dataclasses
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import pytest
import torch
import uvicorn
from omegaconf import OmegaConf
from safetensors.torch import save_file
from sgm.pipelines import catalog, run
from sgm.core.config import instantiate
from sgm.core.checkpoint import read_layout
from sgm.pipelines.loras import LORA_DIR_ENV
from sgm.pipelines.testing import FileResource, install_tiny_model, random_lora
from sgm.kernels.backend import ENV_VAR as ATTENTION_ENV
from sgm.video.testing import make_tiny_config
from sgm_gradio.app import build_app
from sgm_gradio.jobs import RunHooks
from sgm_gradio.runners import PipelineRunners, Runtime
from sgm_gradio.job_queue import JobQueue
from sgm_gradio.main import parse_args
from sgm_gradio.server import build_server

REAL_CATALOG = catalog.CATALOG
MISSING_MODEL = "sd-2.1-768"  # no checkpoint in the test folder
BROKEN_MODEL = "svd-xt"  # its checkpoint is not a safetensors file: loading it fails
IMAGE_MODELS = ("sd-2.1", "sdxl-base", "sdxl-refiner", "sdxl-turbo")
VIDEO_MODELS = ("svd", "sv3d-u", "sv3d-p", "sv4d2")
LORA_FILE = "fox-style.safetensors"  # in the LoRA folder of the tests' app


def _save_random_weights(model: torch.nn.Module, path: Path) -> None:
    save_file({key: tensor.detach().clone().contiguous() for key, tensor in model.state_dict().items()}, path)


def tiny_loras(folder: Path, checkpoints: Path) -> Path:
    """`folder` with LORA_FILE, a random LoRA over every layer of the tiny sd-2.1 in `checkpoints`."""
    layout = read_layout(checkpoints / REAL_CATALOG["sd-2.1"].file)
    save_file(random_lora({key: shape for key, (shape, _) in layout.items()}, seed=1), folder / LORA_FILE)
    return folder


def tiny_catalog(folder: Path) -> MappingProxyType:
    """The catalog with tiny random-weight digits, image (sgm.pipelines.testing) and video (sgm.video.testing) models
    whose checkpoints are in `folder` under their official names."""
    from sgm.pipelines import build_pipeline

    entries = dict(REAL_CATALOG)
    entries["digits"] = dataclasses.replace(entries["digits"], bundled_weights=None)
    torch.manual_seed(0)
    _save_random_weights(instantiate(catalog.model_config("digits")), folder / entries["digits"].file)
    for name in IMAGE_MODELS:
        entries[name] = install_tiny_model(name, folder, folder / "configs")
    for name in VIDEO_MODELS:
        config_path = folder / "configs" / f"{name}.yaml"
        OmegaConf.save(make_tiny_config(name), config_path)
        entries[name] = dataclasses.replace(entries[name], config=FileResource(str(config_path)))
        torch.manual_seed(0)
        engine = build_pipeline(OmegaConf.load(config_path), device="cpu").engine
        _save_random_weights(engine, folder / entries[name].file)
    entries[BROKEN_MODEL] = dataclasses.replace(entries[BROKEN_MODEL], config=entries["svd"].config)
    (folder / entries[BROKEN_MODEL].file).write_bytes(b"not a checkpoint")
    return MappingProxyType(entries)


@dataclass
class Recorder:
    """What the runs did: how many ran at once, the last step each reached; `step_seconds` pauses after each step."""

    running: int = 0
    most_running: int = 0
    steps_done: list[int] = field(default_factory=list)
    stages: set[str] = field(default_factory=set)
    started: threading.Event = field(default_factory=threading.Event)
    step_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, runner):
        def run(model, settings, hooks):
            recording = RecordingHooks(hooks.progress, hooks.stop_requested, recorder=self)
            with self.lock:
                self.running += 1
                self.most_running = max(self.most_running, self.running)
            try:
                return runner(model, settings, recording)
            finally:
                with self.lock:
                    self.running -= 1
                    self.steps_done.append(recording.last_step)

        return run


@dataclass
class RecordingHooks(RunHooks):
    recorder: Recorder | None = None
    last_step: int = -1

    def step(self, stage: str, i: int, total: int) -> None:
        super().step(stage, i, total)
        self.last_step = i
        self.recorder.stages.add(stage)
        self.recorder.started.set()
        time.sleep(self.recorder.step_seconds)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """The tiny catalog in place for the whole session, on one CPU thread (the models are tiny; the CPU is shared)."""
    checkpoints = tmp_path_factory.mktemp("checkpoints")
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        torch.set_num_threads(1)
        patch.setenv(catalog.CHECKPOINT_DIR_ENV, str(checkpoints))
        patch.delenv(ATTENTION_ENV, raising=False)  # results record the kernels: "auto" unless a test sets them
        patch.setattr(catalog, "CATALOG", tiny_catalog(checkpoints))
        patch.setenv(LORA_DIR_ENV, str(tiny_loras(tmp_path_factory.mktemp("loras"), checkpoints)))
        yield checkpoints
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def lora_file(tiny_models) -> str:
    """The name of the LoRA in the test app's LoRA folder (for the tiny sd-2.1)."""
    return LORA_FILE


def launched(app) -> str:
    """Launches `app` on a free port; returns its URL."""
    _, url, _ = app.launch(server_port=_free_port(), prevent_thread_lock=True, quiet=True, show_error=True)
    return url


@pytest.fixture(scope="session")
def launch():
    return launched


@pytest.fixture(scope="session")
def app_url(recorder, tiny_models, tmp_path_factory):
    outputs = tmp_path_factory.mktemp("outputs")
    runners = PipelineRunners(Runtime(device="cpu"), output_dir=outputs).as_dict()
    app = build_app({key: recorder.wrap(runner) for key, runner in runners.items()}, output_dir=outputs)
    yield launched(app)
    app.close()


@pytest.fixture
def real_digits(monkeypatch):
    """The shipped catalog for this test, so the app's digits tab runs the trained weights."""
    if REAL_CATALOG["digits"].bundled_weights.local_path() is None:
        pytest.skip("the trained digits weights are not in this install")
    monkeypatch.setattr(catalog, "CATALOG", REAL_CATALOG)



@dataclass
class SlowRuns:
    """`sgm.pipelines.run` pausing `step_seconds` after every step."""

    step_seconds: float = 0.0
    started: threading.Event = field(default_factory=threading.Event)

    def __call__(self, request, *, callback=None, cache=None):
        def step(stage, i, total):
            callback(stage, i, total)
            if stage == "sampling":
                self.started.set()
                time.sleep(self.step_seconds)

        return run(request, callback=step, cache=cache)


class Served:
    """The server from `argv` (parsed as the command line) listening on 127.0.0.1 until `stop()`."""

    def __init__(self, argv: list[str]):
        self.port = _free_port()
        self.runs = SlowRuns()
        args = parse_args([*argv, "--port", str(self.port)])
        app = build_server(args, JobQueue(concurrency=args.concurrency, max_waiting=args.max_queue, runner=self.runs))
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture(scope="session")
def serve():
    return Served
