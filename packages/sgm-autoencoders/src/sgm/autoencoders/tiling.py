"""Decoding large latents in bounded memory: over the batch in chunks, and over space in overlapping tiles.

`tiled_decode` decodes overlapping latent tiles one at a time and blends them with linear ramps across each
overlap (weights that sum to one), so only one tile's activations are alive at once. Pixels that only one tile
covers are that tile's decode exactly; for a convolution-only network that equals the full decode wherever the
receptive field stays inside the tile. Group norms and attention see one tile rather than the whole image, so a real
decoder's tiles differ somewhat from the full decode (less with larger tiles); the blend keeps seams invisible.
"""

from collections.abc import Callable

import torch

DecodeFn = Callable[[torch.Tensor], torch.Tensor]


def apply_in_chunks(decode: DecodeFn, z: torch.Tensor, max_batch_size: int | None) -> torch.Tensor:
    """`decode(z)` computed `max_batch_size` samples at a time (all at once when None)."""
    if max_batch_size is None or z.shape[0] <= max_batch_size:
        return decode(z)
    if max_batch_size < 1:
        raise ValueError(f"max_batch_size must be a positive integer or None, got {max_batch_size}")
    return torch.cat([decode(chunk) for chunk in z.split(max_batch_size, dim=0)], dim=0)


def tile_starts(length: int, tile_size: int, overlap: int) -> list[int]:
    """Start offsets of tiles of `tile_size` that cover [0, length), consecutive tiles sharing >= `overlap`."""
    if length <= tile_size:
        return [0]
    stride = tile_size - overlap
    return [*range(0, length - tile_size, stride), length - tile_size]


def _blend_ramp(starts: list[int], index: int, size: int, scale: int, total: int) -> torch.Tensor:
    """1-D weights of tile `index` in output pixels: rising linearly over the overlap with the previous tile,
    falling over the overlap with the next one, 1 elsewhere."""
    start, end = starts[index] * scale, min(starts[index] + size, total) * scale
    weight = torch.ones(end - start, dtype=torch.float64)
    overlap = min(starts[index - 1] + size, total) * scale - start if index > 0 else 0
    if overlap > 0:
        rising = (torch.arange(overlap, dtype=torch.float64) + 0.5) / overlap
        weight[:overlap] = torch.minimum(weight[:overlap], rising)
    overlap = end - starts[index + 1] * scale if index < len(starts) - 1 else 0
    if overlap > 0:
        falling = (torch.arange(overlap, 0, -1, dtype=torch.float64) - 0.5) / overlap
        weight[-overlap:] = torch.minimum(weight[-overlap:], falling)
    return weight


def tiled_decode(decode: DecodeFn, z: torch.Tensor, tile_size: int = 64, overlap: int | None = None) -> torch.Tensor:
    """Decode latent `z` `[b, c, h, w]` in `tile_size` x `tile_size` latent tiles overlapping by `overlap` latent
    pixels (default tile_size // 4), blended linearly; `decode` maps a latent tile to its image (any fixed
    upscaling factor)."""
    overlap = tile_size // 4 if overlap is None else overlap
    if z.ndim != 4:
        raise ValueError(f"tiled_decode takes latents of shape [b, c, h, w], got {tuple(z.shape)}")
    if tile_size < 1 or not 0 <= overlap < tile_size:
        raise ValueError(
            f"need tile_size >= 1 and 0 <= overlap < tile_size, got tile_size={tile_size}, overlap={overlap}"
        )
    height, width = z.shape[-2:]
    rows, cols = tile_starts(height, tile_size, overlap), tile_starts(width, tile_size, overlap)
    if len(rows) == len(cols) == 1:
        return decode(z)

    out = weights = None
    for i, top in enumerate(rows):
        for j, left in enumerate(cols):
            tile = decode(z[..., top : top + tile_size, left : left + tile_size])
            if out is None:
                scale = tile.shape[-1] // min(tile_size, width)
                accumulate_dtype = torch.promote_types(tile.dtype, torch.float32)
                out = tile.new_zeros((*tile.shape[:-2], height * scale, width * scale), dtype=accumulate_dtype)
                weights = tile.new_zeros((height * scale, width * scale), dtype=accumulate_dtype)
            ramp_y = _blend_ramp(rows, i, tile_size, scale, height)
            ramp_x = _blend_ramp(cols, j, tile_size, scale, width)
            weight = torch.outer(ramp_y, ramp_x).to(device=out.device, dtype=accumulate_dtype)
            y, x = top * scale, left * scale
            out[..., y : y + weight.shape[0], x : x + weight.shape[1]] += tile.to(accumulate_dtype) * weight
            weights[y : y + weight.shape[0], x : x + weight.shape[1]] += weight
    return (out / weights).to(tile.dtype)
