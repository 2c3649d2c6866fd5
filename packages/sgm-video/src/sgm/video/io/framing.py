"""Sizing the conditioning frames: the SVD cover-crop, and SV3D / SV4D's object centred on white.

The object framing follows the reference sampling scripts: find the object (alpha > 0, or for frames without
alpha every pixel darker than near-white), crop its box, centre it on a square canvas whose side is the box's
longer side divided by `image_frame_ratio` (the fraction of the frame the object spans), resize with Lanczos and
composite over white. A video is cropped with one box, the union over its frames, so the motion stays.
"""

import numpy as np
from PIL import Image

from sgm.core.errors import SgmError

# Frames without alpha are assumed to show the object on a white background (the reference's threshold).
WHITE_THRESHOLD = 250


def cover_resize(image: Image.Image, width: int, height: int) -> Image.Image:
    """RGB `image` scaled to cover `width` x `height` and centre-cropped to it (no distortion)."""
    _check_size(width, "width")
    _check_size(height, "height")
    image = image.convert("RGB")
    scale = max(width / image.width, height / image.height)
    scaled = image.resize(
        (max(width, round(image.width * scale)), max(height, round(image.height * scale))), Image.LANCZOS
    )
    left, top = (scaled.width - width) // 2, (scaled.height - height) // 2
    return scaled.crop((left, top, left + width, top + height))


def object_mask(image: Image.Image) -> np.ndarray:
    """`[H, W]` bool: where the object is (alpha > 0 for images with alpha, else not near-white)."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        return np.asarray(image.convert("RGBA"))[..., 3] > 0
    return np.asarray(image.convert("RGB")).mean(axis=-1) <= WHITE_THRESHOLD


def object_box(frames: list[Image.Image]) -> tuple[int, int, int, int]:
    """`(left, top, right, bottom)` of the union of the frames' objects (the whole frame if none is found)."""
    sizes = {f.size for f in frames}
    if len(sizes) != 1:
        raise SgmError(f"all frames must have one size, got {sorted(sizes)}")
    union = np.zeros(frames[0].size[::-1], dtype=bool)
    for frame in frames:
        union |= object_mask(frame)
    rows, cols = np.nonzero(union.any(axis=1))[0], np.nonzero(union.any(axis=0))[0]
    if rows.size == 0:
        return 0, 0, frames[0].width, frames[0].height
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def frame_objects_on_white(
    frames: list[Image.Image], size: int, image_frame_ratio: float | None = None
) -> list[Image.Image]:
    """Each frame's object centred on a white `size` x `size` RGB image, spanning `image_frame_ratio` of it.

    `image_frame_ratio` None keeps the object's scale relative to the input frame's longer side.
    """
    _check_size(size, "size")
    if image_frame_ratio is not None and not 0.0 < image_frame_ratio <= 1.0:
        raise SgmError(f"image_frame_ratio must be in (0, 1], got {image_frame_ratio}")
    if not frames:
        raise SgmError("no frames to frame")
    left, top, right, bottom = object_box(frames)
    box_w, box_h = right - left, bottom - top
    if image_frame_ratio is None:
        side = max(frames[0].width, frames[0].height)
    else:
        side = max(box_w, box_h, int(max(box_w, box_h) / image_frame_ratio))
    offset = ((side - box_w) // 2, (side - box_h) // 2)
    framed = []
    for frame in frames:
        canvas = Image.new("RGBA", (side, side), (0, 0, 0, 0))
        canvas.paste(frame.convert("RGBA").crop((left, top, right, bottom)), offset)
        framed.append(composite_on_white(canvas.resize((size, size), Image.LANCZOS)))
    return framed


def composite_on_white(image: Image.Image) -> Image.Image:
    """RGB of `image` over a white background, `rgb * alpha + (1 - alpha)`."""
    rgba = np.asarray(image.convert("RGBA"), dtype=np.float64) / 255.0
    rgb = rgba[..., :3] * rgba[..., 3:] + (1.0 - rgba[..., 3:])
    return Image.fromarray((rgb * 255.0).astype(np.uint8))


def _check_size(value: int, name: str) -> None:
    if not isinstance(value, int) or value < 8 or value % 8:
        raise SgmError(f"{name} must be a positive multiple of 8 (the autoencoder's factor), got {value!r}")
