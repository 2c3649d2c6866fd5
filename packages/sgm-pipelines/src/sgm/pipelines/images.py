"""Images in and out of the image pipelines: reading and sizing an init image, and samples to 8-bit pictures."""

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from sgm.core.errors import SgmError
from sgm.core.image_files import read_image_file

ImageSource = str | Path | Image.Image | np.ndarray


def load_image(source: ImageSource) -> Image.Image:
    """An init image from a file path, a PIL image, or an `[H, W]` / `[H, W, 3|4]` uint8 array."""
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        channels = source.shape[2] if source.ndim == 3 else 1
        if source.dtype != np.uint8 or source.ndim not in (2, 3) or channels not in (1, 3, 4):
            raise SgmError(
                f"init image array must be uint8 [H, W], [H, W, 3] or [H, W, 4], got {source.dtype} {source.shape}"
            )
        return Image.fromarray(source)
    return read_image_file(source, "init image")  # its declared size checked before decoding


def check_size(width: Any, height: Any, multiple: int) -> tuple[int, int]:
    """`(width, height)` if both are positive multiples of `multiple`, else an SgmError saying what fits."""
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int) or value < multiple or value % multiple:
            raise SgmError(f"{name} must be a positive multiple of {multiple} for this model, got {value!r}")
    return width, height


def fitting_size(image: Image.Image, multiple: int) -> tuple[int, int]:
    """The image's size rounded down to multiples of `multiple` (the reference crops sizes to multiples of 64)."""
    width, height = (side - side % multiple for side in image.size)
    if width < multiple or height < multiple:
        raise SgmError(f"init image is {image.width}x{image.height}; this model needs at least {multiple}x{multiple}")
    return width, height


def image_to_tensor(image: Image.Image, width: int, height: int) -> torch.Tensor:
    """`[1, 3, height, width]` float32 in [-1, 1], resized (bicubic) then made RGB, as the reference's `load_img`."""
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.BICUBIC)
    array = np.asarray(image.convert("RGB"))
    return torch.from_numpy(array.copy()).permute(2, 0, 1)[None].to(torch.float32) / 127.5 - 1.0


def to_uint8(samples: torch.Tensor) -> np.ndarray:
    """`[B, C, H, W]` in [0, 1] to `[B, H, W, C]` uint8, truncating `255 x` as the reference saves its PNGs."""
    return (255.0 * samples.detach().cpu().float()).permute(0, 2, 3, 1).numpy().astype(np.uint8)


def to_pil(array: np.ndarray) -> Image.Image:
    """One `[H, W, 1|3]` uint8 sample as a PIL image (grayscale for one channel)."""
    return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
