"""What a run produced: the files the pipelines wrote (PNG stills, videos), and the parameters shown beside them,
written as JSON next to them for users to download."""

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RunOutput:
    """images / videos: the result files `sgm.pipelines.run` wrote; info: how the run was made (device, dtype, ...),
    recorded with the result's parameters."""

    images: list[Path] = field(default_factory=list)
    videos: list[Path] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class SavedRun:
    images: list[Path]
    videos: list[Path]
    params: Path

    @property
    def files(self) -> list[Path]:
        return [*self.images, *self.videos, self.params]


def save_run(output: RunOutput, params: dict[str, Any], folder: Path) -> SavedRun:
    """Writes the parameters as `folder/<time>-<id>-seed<seed>.json` beside the run's results; returns all paths."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}-seed{params.get('seed', 0)}"
    params_path = folder / f"{stem}.json"
    with open(params_path, "x") as file:
        json.dump(params, file, indent=2, default=str)
    return SavedRun(list(output.images), list(output.videos), params_path)
