"""Inpainting with the image models as they are (no inpainting UNet): a mask says which part of the init image to
repaint (white) and which to keep (black); the repainted part is sampled as in image-to-image while the kept part is
the input's, noised to each step's noise level, so the two meet at every step and the result keeps the input exactly
where the mask is black.

The mask reaches the latents in two moves: the image's pixels are made black or white (grey level 128 or more, on an
opaque pixel, is white), then each latent cell is repainted when any of the pixels it covers is white (area
downsampling, then any coverage counts), so a stroke thinner than a latent cell still repaints. The blend is the one
of diffusers' legacy inpainting pipeline and ComfyUI's denoise mask for models without mask inputs; they shrink the
mask to the latents by nearest (diffusers) or bilinear (ComfyUI) resizing and blend with the soft values; here it
stays black and white, so an all-white mask is exactly image-to-image and an all-black one exactly the input.
"""

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageChops, UnidentifiedImageError

from sgm.core.diffusion.tensor_shapes import append_dims
from sgm.core.errors import SgmError

MaskSource = str | Path | Image.Image | np.ndarray
MAX_MASK_SIDE = 8192  # pixels; far above any model's size, below what would fill memory when decoded
WHITE_FROM = 128  # grey levels from here up repaint
ASPECT_TOLERANCE = 0.01  # a mask's width / height may differ from the image's by this share


def load_mask(source: MaskSource) -> Image.Image:
    """The mask as a black-and-white "L" image (255 = repaint): from a file path, a PIL image or a uint8 array.
    A transparent pixel keeps (it counts as black), so strokes on a transparent layer work as they are."""
    image = source if isinstance(source, Image.Image) else _mask_image(source)
    if max(image.size) > MAX_MASK_SIDE:
        raise SgmError(f"mask is {image.width}x{image.height}; a mask may be at most {MAX_MASK_SIDE} pixels a side")
    rgba = image.convert("RGBA")
    grey = ImageChops.multiply(rgba.convert("L"), rgba.getchannel("A"))  # times alpha / 255: transparent is black
    return grey.point(lambda level: 255 if level >= WHITE_FROM else 0)


def _mask_image(source: Path | str | np.ndarray) -> Image.Image:
    if isinstance(source, np.ndarray):
        array = source[..., 0] if source.ndim == 3 and source.shape[2] == 1 else source
        if source.dtype != np.uint8 or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
            raise SgmError(f"mask array must be uint8 [H, W], [H, W, 3] or [H, W, 4], got {source.dtype} "
                           f"{source.shape}")  # fmt: skip
        return Image.fromarray(array)
    path = Path(source)
    if not path.is_file():
        raise SgmError(f"mask file not found: {path}")
    try:
        with Image.open(path) as image:
            if max(image.size) > MAX_MASK_SIDE:  # read from the header, before decoding
                raise SgmError(f"mask {path} is {image.width}x{image.height}; a mask may be at most {MAX_MASK_SIDE} "
                               "pixels a side")  # fmt: skip
            image.load()
            return image
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise SgmError(f"cannot read mask {path} ({error}); give a PNG, JPEG or WebP image, white where to "
                       "repaint") from None  # fmt: skip


def check_mask_shape(mask: Image.Image, image_size: tuple[int, int]) -> None:
    """The mask has the init image's shape (width / height within 1%): it is then resized to the sampled size."""
    (width, height), (mask_width, mask_height) = image_size, mask.size
    if abs(mask_width * height - width * mask_height) > ASPECT_TOLERANCE * width * mask_height:
        raise SgmError(f"mask is {mask_width}x{mask_height} but the init image is {width}x{height}: give a mask of "
                       "the image's shape (it is resized to the image)")  # fmt: skip


def latent_mask(mask: Image.Image, width: int, height: int, factor: int) -> torch.Tensor:
    """`[1, 1, height / factor, width / factor]` bool, True where the latents are repainted: the black-and-white
    mask resized (nearest) to `width` x `height`, then a latent cell repainted when any pixel it covers is."""
    pixels = np.asarray(mask.resize((width, height), Image.Resampling.NEAREST)) >= WHITE_FROM
    return F.max_pool2d(torch.from_numpy(pixels)[None, None].float(), factor) > 0


class InpaintingDenoiser:
    """`denoiser(x, sigma, cond, **extra)` that sees the input wherever the mask keeps it: before each evaluation
    the kept region of `x` becomes `latents + sigma * noise`, the input latents noised to that sigma with the start
    noise (the known-region blend of RePaint, Lugmayr et al. 2022; diffusers' StableDiffusionInpaintPipelineLegacy;
    ComfyUI's KSamplerX0Inpaint).

    Wrapping the denoiser rather than hooking the samplers' loops leaves every sampler untouched and blends every
    evaluation, Heun's and DPM-2's midpoints too. It is the same as replacing the kept region after every step:
    the samplers update each element from that element alone, so the repainted region moves exactly as if the kept
    one had been replaced, and the kept one is replaced anyway before the network sees it. `blend` puts the input
    back in the kept region of the final latents (sigma 0).

    latents, noise: `[N, C, h, w]`; repaint: a bool mask broadcasting to them, True where the image is repainted.
    A guider's batch (cond and uncond stacked: `k N` rows) is matched by repeating latents and noise `k` times.
    """

    def __init__(self, denoiser: Any, latents: torch.Tensor, noise: torch.Tensor, repaint: torch.Tensor):
        self.denoiser = denoiser
        self.latents = latents
        self.noise = noise
        self.repaint = repaint.to(latents.device)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, cond: Any, **extra: Any) -> torch.Tensor:
        copies = (x.shape[0] // self.latents.shape[0],) + (1,) * (x.ndim - 1)
        kept = self.latents.repeat(copies) + self.noise.repeat(copies) * append_dims(sigma, x.ndim)
        return self.denoiser(torch.where(self.repaint, x, kept.to(x.dtype)), sigma, cond, **extra)

    def blend(self, samples: torch.Tensor) -> torch.Tensor:
        """The final latents: sampled where repainted, the input where kept."""
        return torch.where(self.repaint, samples, self.latents.to(samples.dtype))
