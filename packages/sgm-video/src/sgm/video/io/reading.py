"""Reading the conditioning input: an image, a video (mp4, gif, ...), a folder of frames or a file pattern."""

import glob
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from sgm.core.errors import SgmError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".gif", ".webm", ".mov", ".avi", ".mkv")


def load_image(path: str | Path) -> Image.Image:
    """One image file, fully read (RGB, RGBA or L as stored)."""
    path = Path(path)
    if not path.is_file():
        raise SgmError(f"no image file at {path}")
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except (UnidentifiedImageError, OSError) as error:
        raise SgmError(f"cannot read {path} as an image ({error}); give a PNG or JPEG file") from error


def _gif_frames(path: Path, max_frames: int | None) -> list[Image.Image]:
    frames = []
    with Image.open(path) as gif:
        for frame in ImageSequence.Iterator(gif):
            frames.append(frame.convert("RGBA"))
            if max_frames is not None and len(frames) == max_frames:
                break
    return frames


def _video_frames(path: Path, max_frames: int | None) -> list[Image.Image]:
    frames = []
    with imageio.get_reader(str(path), format="FFMPEG") as reader:  # imageio-ffmpeg decodes mp4, webm, mov, ...
        for array in reader:
            frames.append(Image.fromarray(np.asarray(array)[..., :3]).convert("RGB"))
            if max_frames is not None and len(frames) == max_frames:
                break
    return frames


def _frame_files(path: str | Path) -> list[Path]:
    """The image files of a folder, or those a glob pattern matches, sorted by name."""
    if Path(path).is_dir():
        files = [f for f in Path(path).iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
    else:
        files = [Path(f) for f in glob.glob(str(path)) if Path(f).suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files)


def load_frames(path: str | Path, max_frames: int | None = None) -> list[Image.Image]:
    """The frames at `path`, at most `max_frames` of them.

    `path` is an image file (one frame), a video file (mp4, gif, webm, mov, ...), a folder of image files or a
    glob pattern such as `frames/*.png` (both read in name order). Raises SgmError when nothing readable
    is there.
    """
    if max_frames is not None and max_frames < 1:
        raise SgmError(f"max_frames must be at least 1, got {max_frames}")
    path_str = str(path)
    candidate = Path(path)
    if candidate.is_file():
        suffix = candidate.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            return [load_image(candidate)]
        if suffix not in VIDEO_SUFFIXES:
            raise SgmError(
                f"{candidate} is neither an image ({', '.join(IMAGE_SUFFIXES)}) nor a video "
                f"({', '.join(VIDEO_SUFFIXES)})"
            )
        try:
            frames = _gif_frames(candidate, max_frames) if suffix == ".gif" else _video_frames(candidate, max_frames)
        except (OSError, RuntimeError, ValueError) as error:
            raise SgmError(f"cannot read the video {candidate} ({error})") from error
        if not frames:
            raise SgmError(f"the video {candidate} has no frames")
        return frames
    if candidate.is_dir() or any(ch in path_str for ch in "*?["):
        files = _frame_files(path)
        if not files:
            raise SgmError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {path_str}")
        return [load_image(f) for f in files[:max_frames]]
    raise SgmError(f"{path_str} does not exist: give an image, a video, a folder of frames or a pattern")


def take_frames(frames: list[Image.Image], count: int, source: str = "the input") -> list[Image.Image]:
    """The first `count` frames; too few is an error (the models need exactly `count` input frames)."""
    if len(frames) < count:
        raise SgmError(
            f"{source} has {len(frames)} frame(s); this model needs at least {count}. Give a longer video "
            "or more frame files."
        )
    return frames[:count]
