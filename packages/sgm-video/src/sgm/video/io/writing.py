"""Writing results: mp4 (imageio-ffmpeg), gif or a folder of PNG frames, never over an existing file.

Each output is written under a temporary name in the target folder and then linked (files) or renamed
(folders) to the first free name `stem.ext`, `stem-1.ext`, `stem-2.ext`, ..., so a crash leaves no half-written
result under a real name and two runs never overwrite each other.
"""

import os
import shutil
import tempfile
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
from PIL import Image

from sgm.core.files import make_public

FORMATS = ("mp4", "gif", "frames")


def to_uint8_frames(frames: np.ndarray | list[Image.Image]) -> np.ndarray:
    """`[T, H, W, 3]` uint8 from PIL images or such an array (float samples become 8-bit where the caller watermarks
    them, so every output is converted in one place)."""
    if isinstance(frames, list):
        return np.stack([np.asarray(f.convert("RGB")) for f in frames])
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be PIL images or a uint8 [T, H, W, 3] array, got {type(frames).__name__}")
    return frames


def _candidates(folder: Path, stem: str, suffix: str):
    yield folder / f"{stem}{suffix}"
    index = 1
    while True:
        yield folder / f"{stem}-{index}{suffix}"
        index += 1


def _publish_file(temp: Path, folder: Path, stem: str, suffix: str) -> Path:
    """Hard-link `temp` to the first free name (atomic, fails instead of overwriting), then drop `temp`."""
    make_public(temp)
    try:
        for target in _candidates(folder, stem, suffix):
            try:
                os.link(temp, target)
                return target
            except FileExistsError:
                continue
    finally:
        temp.unlink(missing_ok=True)
    raise AssertionError("unreachable")


def _publish_folder(temp: Path, folder: Path, stem: str) -> Path:
    make_public(temp)
    for target in _candidates(folder, stem, ""):
        if target.exists():
            continue
        try:
            target.mkdir()  # claims the name; renaming onto an empty folder replaces it atomically
        except FileExistsError:
            continue
        os.replace(temp, target)
        return target
    raise AssertionError("unreachable")


def write_frames(
    frames: np.ndarray | list[Image.Image],
    folder: str | Path,
    stem: str,
    fmt: str = "mp4",
    fps: int = 7,
) -> Path:
    """Write `frames` as `folder/stem.<mp4|gif>` or a folder `folder/stem/` of `000000.png`, ...; returns the path.

    An existing name is never overwritten: the next free `stem-N` is used.
    """
    if fmt not in FORMATS:
        raise ValueError(f"output format must be one of {FORMATS}, got {fmt!r}")
    if fps < 1:
        raise ValueError(f"fps must be at least 1, got {fps}")
    array = to_uint8_frames(frames)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "frames":
        temp = Path(tempfile.mkdtemp(prefix=f".{stem}.", dir=folder))
        try:
            for index, frame in enumerate(array):
                Image.fromarray(frame).save(temp / f"{index:06d}.png")
            return _publish_folder(temp, folder, stem)
        finally:
            shutil.rmtree(temp, ignore_errors=True)
    suffix = f".{fmt}"
    handle, temp_name = tempfile.mkstemp(prefix=f".{stem}.", suffix=suffix, dir=folder)
    os.close(handle)
    temp = Path(temp_name)
    try:
        if fmt == "mp4":
            # Frame sizes here are multiples of 8; macro_block_size 2 keeps them (x264 needs even sizes).
            imageio.mimwrite(temp, list(array), fps=fps, macro_block_size=2, format="FFMPEG")
        else:
            imageio.mimwrite(temp, list(array), duration=1000.0 / fps, loop=0, format="GIF")
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return _publish_file(temp, folder, stem, suffix)
