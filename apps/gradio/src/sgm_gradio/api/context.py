"""What the API routes share: the server's one job queue (and so its model cache), where and how runs happen,
the limits, the key, and the model the AUTOMATIC1111 routes use."""

import threading
from dataclasses import dataclass, field
from pathlib import Path

from sgm.pipelines import catalog

from sgm_gradio.api.limits import RequestLimits
from sgm_gradio.job_queue import JobQueue
from sgm_gradio.runners import Runtime
from sgm_gradio.uploads import UploadLimits

IMAGE_TASKS = ("txt2img", "img2img")


def image_models() -> list[str]:
    """The text-prompted image models (AUTOMATIC1111's checkpoints), in catalog order."""
    return [name for name, entry in catalog.CATALOG.items() if entry.task in IMAGE_TASKS]


def present_image_models() -> list[str]:
    return [name for name in image_models() if catalog.local_checkpoint(name) is not None]


@dataclass
class ApiContext:
    queue: JobQueue
    output_dir: Path
    runtime: Runtime = field(default_factory=Runtime)
    uploads: UploadLimits = field(default_factory=UploadLimits)
    limits: RequestLimits = field(default_factory=RequestLimits)
    api_key: str | None = None
    _model: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def model(self) -> str:
        """The model the AUTOMATIC1111 routes run (`sd_model_checkpoint`): the one chosen last, else the first image
        model whose checkpoint is here, else the first image model."""
        with self._lock:
            if self._model is None:
                self._model = next(iter(present_image_models() or image_models()))
            return self._model

    @model.setter
    def model(self, name: str) -> None:
        with self._lock:
            self._model = name
