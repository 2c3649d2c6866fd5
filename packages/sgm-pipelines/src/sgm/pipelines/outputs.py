"""Every result leaves through here: samples in [0, 1] become 8-bit pictures with the invisible watermark (unless the
user turned it off), and are written as PNGs (parameters as PNG text, AUTOMATIC1111's `parameters` text beside them)
or videos (mp4, gif, frame folders; parameters in a JSON file beside them) under names that never overwrite
anything."""

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from sgm.core.watermark import MIN_PIXELS, embed_watermark, save_png, unique_output_path
from sgm.pipelines import infotext
from sgm.pipelines.images import to_pil, to_uint8


def watermarked(samples: torch.Tensor) -> torch.Tensor:
    """`[N, C, H, W]` images in [0, 1] with the reference's 48-bit DWT-DCT mark. The mark needs RGB images of at least
    256 x 256 pixels; others (the 16 x 16 grayscale digits, tiny test models) are returned as they are."""
    if samples.shape[1] != 3 or samples.shape[2] * samples.shape[3] < MIN_PIXELS:
        return samples
    return embed_watermark(samples)


def finished_images(samples: torch.Tensor, *, watermark: bool = True) -> list[Image.Image]:
    """`[N, C, H, W]` samples in [0, 1] (video frames alike) as 8-bit PIL images, watermarked unless turned off;
    values are truncated (`uint8(255 x)`), as the reference's scripts write them."""
    samples = samples.detach().float().clamp(0.0, 1.0).cpu()
    if watermark:
        samples = watermarked(samples)
    return [to_pil(array) for array in to_uint8(samples)]


def png_text(parameters: Mapping[str, Any]) -> dict[str, str]:
    """An image's PNG text chunks: each parameter as text (lists as JSON), and AUTOMATIC1111's `parameters` text,
    which other tools read."""
    text = {str(key): json.dumps(value) if isinstance(value, list | tuple) else str(value)
            for key, value in parameters.items()}  # fmt: skip
    return {**text, infotext.KEY: infotext.infotext(parameters)}


GRID_STEM = "grid-"  # `folder/grid-NNNNNN.png`: all images of a run in one picture


def save_images(
    images: Sequence[Image.Image],
    folder: str | Path,
    parameters: Mapping[str, Any],
    *,
    output_size: int | None = None,
    grid: bool = False,
) -> list[Path]:
    """Each image as `folder/NNNNNN.png` (the next free number), its parameters and index as PNG text (`png_text`).

    output_size: a model whose images are too small to look at (the 16 x 16 digits) has them written enlarged by a
    whole factor to about this many pixels a side, nearest-neighbour so each pixel stays a crisp square; the PNG
    text records the native size. grid: with more than one image, also `folder/grid-NNNNNN.png` holding them all."""
    if output_size and images:
        native = images[0].size
        images = [enlarged(image, output_size) for image in images]
        parameters = {**parameters, "native_size": f"{native[0]}x{native[1]}"}
    paths = [_save_new_png(image, folder, "", png_text({**parameters, "index": index}))
             for index, image in enumerate(images)]  # fmt: skip
    if grid and len(images) > 1:
        paths.append(_save_new_png(image_grid(images), folder, GRID_STEM, png_text({**parameters,
                                                                                  "count": len(images)})))
    return paths


def _save_new_png(image: Image.Image, folder: str | Path, stem: str, metadata: Mapping[str, Any]) -> Path:
    path = unique_output_path(folder, stem)  # reserved as an empty file, replaced whole by save_png
    try:
        return save_png(image, path, metadata)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def enlarged(image: Image.Image, size: int) -> Image.Image:
    """`image` scaled by the whole factor that brings its longer side nearest `size` (never below 1), each pixel a
    square block."""
    factor = max(1, round(size / max(image.size)))
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)


def image_grid(images: Sequence[Image.Image]) -> Image.Image:
    """Same-sized images in rows of `ceil(sqrt(n))`, left to right, top to bottom."""
    columns = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    width, height = images[0].size
    grid = Image.new(images[0].mode, (columns * width, rows * height))
    for index, image in enumerate(images):
        grid.paste(image, ((index % columns) * width, (index // columns) * height))
    return grid


def save_videos(
    videos: Sequence[Sequence[Image.Image]],
    folder: str | Path,
    stem: str,
    parameters: Mapping[str, Any],
    *,
    fmt: str = "mp4",
    fps: int = 7,
) -> list[Path]:
    """Each video as `folder/<stem>[-viewNN].<mp4|gif>` (or a folder of PNG frames) at `fps`, with its parameters
    in `<video name>.json` beside it; a taken name gets a numbered suffix."""
    from sgm.video.io import write_frames

    paths = []
    for index, frames in enumerate(videos):
        name = f"{stem}-view{index + 1:02d}" if len(videos) > 1 else stem
        path = write_frames(list(frames), folder, name, fmt=fmt, fps=fps)
        with open(path.parent / f"{path.name}.json", "x") as file:
            json.dump({**parameters, "index": index, "fps": fps}, file, indent=2, default=str)
        paths.append(path)
    return paths
