"""What a run produced, and writing it to files users can download: PNG stills, MP4 videos, the parameters as JSON."""

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import numpy as np
from PIL import Image


@dataclass
class RunOutput:
    """images: still results; videos: frame sequences played at `fps`; info: how the run was made (device, dtype,
    ...), recorded with the result's parameters."""

    images: list[Image.Image] = field(default_factory=list)
    videos: list[list[Image.Image]] = field(default_factory=list)
    fps: int = 7
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
    """Writes every result under `folder` with one shared stem (`<time>-<seed>`) and returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}-seed{params.get('seed', 0)}"
    images = []
    for i, image in enumerate(output.images):
        images.append(folder / f"{stem}-{i}.png")
        image.save(images[-1])
    videos = []
    for i, frames in enumerate(output.videos):
        videos.append(folder / f"{stem}-{i}.mp4")
        write_mp4(frames, videos[-1], output.fps)
    params_path = folder / f"{stem}.json"
    params_path.write_text(json.dumps(params, indent=2, default=str))
    return SavedRun(images, videos, params_path)


def write_mp4(frames: list[Image.Image], path: Path, fps: int) -> None:
    """H.264 in yuv420p, which browsers play; sides are padded to even sizes as that format needs."""
    array = np.stack([np.asarray(frame.convert("RGB")) for frame in frames])
    pad_h, pad_w = array.shape[1] % 2, array.shape[2] % 2
    if pad_h or pad_w:
        array = np.pad(array, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    writer = imageio_ffmpeg.write_frames(
        str(path), (array.shape[2], array.shape[1]), fps=fps, codec="libx264", pix_fmt_out="yuv420p", macro_block_size=1
    )
    writer.send(None)
    for frame in array:
        writer.send(np.ascontiguousarray(frame))
    writer.close()
