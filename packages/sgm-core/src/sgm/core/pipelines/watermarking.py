"""The invisible watermark on pipeline outputs, through `sgm.core.watermark` (the reference's 48-bit DWT-DCT mark)."""

import torch

from sgm.core.watermark import MIN_PIXELS, embed_watermark


def watermarked(samples: torch.Tensor) -> torch.Tensor:
    """`[N, C, H, W]` images in [0, 1] with the watermark embedded. The mark needs RGB images of at least
    256 x 256 pixels; others (the 28 x 28 grayscale digits) are returned as they are."""
    if samples.shape[1] != 3 or samples.shape[2] * samples.shape[3] < MIN_PIXELS:
        return samples
    return embed_watermark(samples)
