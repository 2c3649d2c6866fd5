"""Reading the conditioning input: an image, a video (mp4, gif, ...), a folder of frames or a file pattern.

Sizes are checked before pixels are decoded: an image's declared size (`sgm.core.image_files`), a video's frame size
and frame count from its container. A few kilobytes of video can hold thousands of frames, so a reader never
decodes more than `MAX_FRAMES`, nor more than its caller asked for.
"""

import glob
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
from PIL import Image, ImageSequence

from sgm.core.errors import SgmError
from sgm.core.image_files import check_pixels, opened_image, read_image_file

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".gif", ".webm", ".mov", ".avi", ".mkv")
MAX_FRAMES = 1000  # far more than any model reads (SV4D: 21 input frames)


def load_image(path: str | Path) -> Image.Image:
    """One image file, fully read (RGB, RGBA or L as stored)."""
    return read_image_file(path)  # its declared size checked before decoding


def video_info(path: str | Path) -> tuple[int, int, int]:
    """`(frames, width, height)` of a video file from its container, decoding no frame into memory (ffmpeg counts
    frames by streaming them; a GIF's frames are counted by seeking). A frame size above
    `image_files.MAX_IMAGE_PIXELS` is an SgmError."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".gif":
            with opened_image(path, "video") as gif:
                return gif.n_frames, *gif.size
        with imageio.get_reader(str(path), format="FFMPEG") as reader:
            width, height = reader.get_meta_data()["size"]
            check_pixels((width, height), path)
            return reader.count_frames(), width, height
    except (OSError, RuntimeError, ValueError, KeyError) as error:
        raise SgmError(f"cannot read the video {path} ({_first_line(error)})") from None


def _first_line(error: Exception) -> str:
    """An error's first line: ffmpeg's messages continue with its version banner and build options."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _gif_frames(path: Path, max_frames: int) -> list[Image.Image]:
    frames = []
    with opened_image(path, "video") as gif:
        for frame in ImageSequence.Iterator(gif):
            frames.append(frame.convert("RGBA"))
            if len(frames) == max_frames:
                break
    return frames


def _video_frames(path: Path, max_frames: int) -> list[Image.Image]:
    frames = []
    with imageio.get_reader(str(path), format="FFMPEG") as reader:  # imageio-ffmpeg decodes mp4, webm, mov, ...
        check_pixels(reader.get_meta_data()["size"], path)
        for array in reader:
            frames.append(Image.fromarray(np.asarray(array)[..., :3]).convert("RGB"))
            if len(frames) == max_frames:
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
    is there, and when all frames are asked for (`max_frames=None`) but there are more than `MAX_FRAMES`.
    """
    if max_frames is not None and not 1 <= max_frames <= MAX_FRAMES:
        raise SgmError(f"max_frames must be from 1 to {MAX_FRAMES}, got {max_frames}")
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
        if max_frames is None:
            _check_frame_count(video_info(candidate)[0], candidate)
        try:
            read = _gif_frames if suffix == ".gif" else _video_frames
            frames = read(candidate, max_frames or MAX_FRAMES)
        except (OSError, RuntimeError, ValueError, KeyError) as error:
            raise SgmError(f"cannot read the video {candidate} ({_first_line(error)})") from None
        if not frames:
            raise SgmError(f"the video {candidate} has no frames")
        return frames
    if candidate.is_dir() or any(ch in path_str for ch in "*?["):
        files = _frame_files(path)
        if not files:
            raise SgmError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {path_str}")
        if max_frames is None:
            _check_frame_count(len(files), path_str)
        return [load_image(f) for f in files[:max_frames]]
    raise SgmError(f"{path_str} does not exist: give an image, a video, a folder of frames or a pattern")


def _check_frame_count(count: int, source: str | Path) -> None:
    if count > MAX_FRAMES:
        raise SgmError(f"{source} has {count} frames; at most {MAX_FRAMES} can be read: give a shorter video")


def take_frames(frames: list[Image.Image], count: int, source: str = "the input") -> list[Image.Image]:
    """The first `count` frames; too few is an error (the models need exactly `count` input frames)."""
    if len(frames) < count:
        raise SgmError(
            f"{source} has {len(frames)} frame(s); this model needs at least {count}. Give a longer video "
            "or more frame files."
        )
    return frames[:count]
