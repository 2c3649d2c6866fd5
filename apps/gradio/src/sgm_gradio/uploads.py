"""Checks on what users upload: file type, file size, image size and video frame count, each with one clear line."""

from dataclasses import dataclass
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".gif", ".webm", ".mov")


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
    path = _checked_path(path, "an image", IMAGE_SUFFIXES, limits)
    try:
        with Image.open(path) as opened:
            opened.load()
            image = opened
    except (UnidentifiedImageError, OSError) as error:
        raise UploadError(f"{path.name} is not a readable image ({error}).") from None
    if max(image.size) > limits.max_pixels:
        raise UploadError(f"{path.name} is {image.width}x{image.height}; the largest side may be {limits.max_pixels}.")
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image).convert("RGB")
    return image.convert("RGB")


def load_video_frames(path: str | Path | None, limits: UploadLimits = UploadLimits()) -> list[Image.Image]:
    """The uploaded video's frames as RGB images, after checking type, size and frame count."""
    path = _checked_path(path, "a video", VIDEO_SUFFIXES, limits)
    try:
        frames = [np.asarray(frame) for frame in iio.imiter(path)]
    except Exception as error:  # noqa: BLE001 -- imageio raises many types for unreadable files; all mean the same to a user
        raise UploadError(f"{path.name} is not a readable video ({type(error).__name__}: {error}).") from None
    if not limits.min_frames <= len(frames) <= limits.max_frames:
        raise UploadError(
            f"{path.name} has {len(frames)} frames; use a video with {limits.min_frames} to {limits.max_frames} frames."
        )
    height, width = frames[0].shape[:2]
    if max(height, width) > limits.max_pixels:
        raise UploadError(f"{path.name} is {width}x{height}; the largest side may be {limits.max_pixels}.")
    return [_as_rgb(frame) for frame in frames]


def _as_rgb(frame: np.ndarray) -> Image.Image:
    if frame.ndim == 2:
        return Image.fromarray(frame).convert("RGB")
    if frame.shape[-1] == 4:
        image = Image.fromarray(frame, "RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image).convert("RGB")
    return Image.fromarray(frame[..., :3])
