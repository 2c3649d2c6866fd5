"""The reference's invisible watermark (DWT-DCT, `invisible-watermark`), PNG metadata and never-overwriting outputs.

Every image the reference saves carries the same fixed 48-bit message, embedded in the BGR channels with the
"dwtDct" method (sgm/inference/helpers.py); its detector (scripts/demo/detect.py) counts matching bits.
"""

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, PngImagePlugin

from sgm.core.errors import SgmError
from sgm.core.files import make_public
from sgm.core.image_files import read_image_file

# The reference's fixed message, chosen at random; its bits in order, most significant first.
WATERMARK_MESSAGE = 0b101100111110110010010000011110111011000110011110
WATERMARK_BITS = [int(bit) for bit in bin(WATERMARK_MESSAGE)[2:]]
# detect.py: more than 33 matching bits of 48 reads as "likely watermarked" (0.02% false positives in its test).
DETECTION_THRESHOLD = 34
MIN_PIXELS = 256 * 256  # the decoder's own minimum


def _encoder():
    from imwatermark import WatermarkEncoder

    encoder = WatermarkEncoder()
    encoder.set_watermark("bits", WATERMARK_BITS)
    return encoder


def _embed_uint8_rgb(image: np.ndarray, encoder) -> np.ndarray:
    bgr = np.ascontiguousarray(image[..., ::-1])
    return np.ascontiguousarray(encoder.encode(bgr, "dwtDct")[..., ::-1])


def _embed_tensor(images: torch.Tensor, encoder) -> torch.Tensor:
    # As the reference: ([N,] B, C, H, W) in [0, 1] -> 255-scaled float BGR -> encode -> back, clamped to [0, 1].
    squeeze = images.ndim == 4
    batch = images[None] if squeeze else images
    arrays = (255 * batch.detach().float().cpu()).flatten(0, 1).permute(0, 2, 3, 1).numpy()[..., ::-1]
    marked = np.stack([encoder.encode(np.ascontiguousarray(a), "dwtDct") for a in arrays])[..., ::-1]
    out = torch.from_numpy(np.ascontiguousarray(marked)).permute(0, 3, 1, 2).unflatten(0, batch.shape[:2])
    out = torch.clamp(out / 255, 0.0, 1.0).to(device=images.device, dtype=images.dtype)
    return out[0] if squeeze else out


def embed_watermark(images):
    """The watermarked copy of `images`: a PIL image, a uint8 RGB array (H, W, 3) or batch (N, H, W, 3), a list
    of those, or a tensor ([N,] B, 3, H, W) in [0, 1] as the reference takes."""
    encoder = _encoder()
    if isinstance(images, list):
        return [embed_watermark(image) for image in images]
    if isinstance(images, torch.Tensor):
        return _embed_tensor(images, encoder)
    if isinstance(images, Image.Image):
        return Image.fromarray(_embed_uint8_rgb(np.asarray(images.convert("RGB")), encoder))
    array = np.asarray(images)
    if array.dtype != np.uint8 or array.shape[-1] != 3 or array.ndim not in (3, 4):
        raise SgmError(f"cannot watermark an array of shape {array.shape} and dtype {array.dtype}: need uint8 RGB")
    if array.ndim == 4:
        return np.stack([_embed_uint8_rgb(image, encoder) for image in array])
    return _embed_uint8_rgb(array, encoder)


@dataclass(frozen=True)
class Detection:
    matched_bits: int
    total_bits: int

    @property
    def present(self) -> bool:
        return self.matched_bits >= DETECTION_THRESHOLD

    @property
    def bit_accuracy(self) -> float:
        return self.matched_bits / self.total_bits


def detect_watermark(image) -> Detection:
    """How many of the 48 watermark bits an RGB image (PIL, path, or uint8 array) carries; `.present` when
    enough match. Detection is reliable only at the size the watermark was embedded."""
    from imwatermark import WatermarkDecoder

    if isinstance(image, (str, Path)):
        image = read_image(image)
    array = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    if array.ndim != 3 or array.shape[-1] != 3 or array.dtype != np.uint8:
        raise SgmError(f"cannot check an array of shape {array.shape} and dtype {array.dtype}: need uint8 RGB")
    if array.shape[0] * array.shape[1] < MIN_PIXELS:
        raise SgmError(f"image of {array.shape[1]}x{array.shape[0]} pixels is too small: the watermark needs 256x256")
    decoder = WatermarkDecoder("bits", len(WATERMARK_BITS))
    bits = decoder.decode(np.ascontiguousarray(array[..., ::-1]), "dwtDct")
    matched = int(np.sum(np.asarray(bits, dtype=bool) == np.asarray(WATERMARK_BITS, dtype=bool)))
    return Detection(matched, len(WATERMARK_BITS))


def read_image(path: str | Path) -> Image.Image:
    """An image file as RGB; a missing, unreadable or oversized file (`image_files.MAX_IMAGE_PIXELS`, checked
    before decoding) is an SgmError naming it."""
    return read_image_file(path, "image file", mode="RGB")


def unique_output_path(directory: str | Path, stem: str = "", suffix: str = ".png") -> Path:
    """Reserve the next free `directory/<stem>NNNNNN<suffix>` (created empty, atomically, so two writers never
    get the same name); the directory is created if needed."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    taken = [p.name[len(stem) : -len(suffix) or None] for p in directory.glob(f"{stem}*{suffix}")]
    number = max((int(n) for n in taken if n.isdigit()), default=0) + 1
    while True:
        path = directory / f"{stem}{number:06d}{suffix}"
        try:
            with path.open("x"):
                return path
        except FileExistsError:
            number += 1


def save_png(image, path: str | Path, metadata: Mapping[str, object] | None = None) -> Path:
    """Write `image` (PIL or uint8 RGB array) as PNG with `metadata` as tEXt chunks (model, prompt, seed, ...).
    The file is written to a temporary name and renamed, so a half-written PNG never appears at `path`."""
    path = Path(path)
    image = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    info = PngImagePlugin.PngInfo()
    for key, value in (metadata or {}).items():
        info.add_text(str(key), str(value))
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            image.save(file, format="PNG", pnginfo=info)
        make_public(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
