"""Checks on what users upload: file type, file size, image size, video frame count and text encoding, each with one
clear line.
Sizes and frame counts are read from the file's header and container before any pixel is decoded."""

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".gif", ".webm", ".mov")
TEXT_SUFFIXES = (".txt", ".jsonl")  # prompt lists


class UploadError(ValueError):
    """An upload the app cannot use; the message says what to upload instead."""


@dataclass(frozen=True)
class UploadLimits:
    """max_megabytes: largest accepted file; max_pixels: largest image side; max_frames / min_frames: video length."""

    max_megabytes: float = 50.0
    max_pixels: int = 4096
    min_frames: int = 1
    max_frames: int = 300


def _checked_path(path: str | Path | None, what: str, suffixes: tuple[str, ...], limits: UploadLimits) -> Path:
    if path is None or str(path) == "":
        raise UploadError(f"Upload {what} first.")
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise UploadError(f"{path.name}: {what} must be one of {', '.join(suffixes)}, got '{path.suffix or 'none'}'.")
    megabytes = path.stat().st_size / 2**20
    if megabytes > limits.max_megabytes:
        raise UploadError(f"{path.name} is {megabytes:.3g} MB; the limit is {limits.max_megabytes:g} MB.")
    return path


def load_image(path: str | Path | None, limits: UploadLimits = UploadLimits()) -> Image.Image:
    """The uploaded image as RGB; transparent pixels are composited on white (the object-centric models expect it)."""
    from sgm.core.errors import SgmError
    from sgm.core.image_files import image_file_size, read_image_file

    path = _checked_path(path, "an image", IMAGE_SUFFIXES, limits)
    try:
        _check_side(image_file_size(path), path, limits)
        return _on_white(read_image_file(path))
    except SgmError as error:
        raise _upload_error(error, path) from None


def load_video_frames(path: str | Path | None, limits: UploadLimits = UploadLimits()) -> list[Image.Image]:
    """The uploaded video's frames as RGB images, after checking type, size and frame count (from the container,
    before decoding any frame)."""
    from sgm.core.errors import SgmError
    from sgm.video.io.reading import load_frames, video_info

    path = _checked_path(path, "a video", VIDEO_SUFFIXES, limits)
    try:
        count, width, height = video_info(path)
    except SgmError as error:
        raise _upload_error(error, path) from None
    if not limits.min_frames <= count <= limits.max_frames:
        raise UploadError(
            f"{path.name} has {count} frames; use a video with {limits.min_frames} to {limits.max_frames} frames."
        )
    _check_side((width, height), path, limits)
    try:
        frames = load_frames(path, max_frames=count)
    except SgmError as error:
        raise _upload_error(error, path) from None
    return [_on_white(frame) for frame in frames]


def load_text(path: str | Path | None, limits: UploadLimits = UploadLimits()) -> str:
    """The uploaded text file (a prompt list) as text, after checking its type and size; it must be UTF-8."""
    path = _checked_path(path, "a prompt list", TEXT_SUFFIXES, limits)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UploadError(f"{path.name} is not UTF-8 text: save the prompt list as UTF-8.") from None


def _upload_error(error: Exception, path: Path) -> UploadError:
    """The reader's one line, naming the upload by its file name, not by its path on the server."""
    return UploadError(str(error).replace(str(path), path.name))


def _check_side(size: tuple[int, int], path: Path, limits: UploadLimits) -> None:
    if max(size) > limits.max_pixels:
        raise UploadError(f"{path.name} is {size[0]}x{size[1]}; the largest side may be {limits.max_pixels}.")


def _on_white(frame: Image.Image) -> Image.Image:
    if frame.mode in ("RGBA", "LA", "P"):
        frame = frame.convert("RGBA")
        background = Image.new("RGBA", frame.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, frame).convert("RGB")
    return frame.convert("RGB")
