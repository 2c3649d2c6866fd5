"""Antialiased resizing as kornia's `geometry.resize(..., antialias=True)` does it (the reference's CLIP preprocess).

Downscaling first blurs with a Gaussian of sigma `(factor - 1) / 2` per axis (scikit-image's choice), kernel size
`max(4 sigma, 3)` rounded down then up to odd, reflect padding; then `F.interpolate`.
"""

import torch
import torch.nn.functional as F


def gaussian_kernel1d(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """`exp(-x^2 / (2 sigma^2))` over `x = -(size // 2) .. size // 2`, normalised to sum to 1."""
    x = torch.arange(size, dtype=dtype, device=device) - size // 2
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def gaussian_blur2d(x: torch.Tensor, kernel_size: tuple[int, int], sigma: tuple[float, float]) -> torch.Tensor:
    """Separable Gaussian blur of `[batch, channels, height, width]` with reflect padding (odd kernel sizes)."""
    channels = x.shape[1]
    compute_dtype = torch.promote_types(x.dtype, torch.float32)
    out = x.to(compute_dtype)
    for axis in (1, 0):  # along the width first, as kornia's separable filter does
        size, s = kernel_size[axis], sigma[axis]
        kernel = gaussian_kernel1d(size, s, compute_dtype, x.device)
        shape = (channels, 1, size, 1) if axis == 0 else (channels, 1, 1, size)
        pad = (0, 0, size // 2, size // 2) if axis == 0 else (size // 2, size // 2, 0, 0)
        out = F.conv2d(F.pad(out, pad, mode="reflect"), kernel.view(1, 1, *shape[2:]).expand(shape), groups=channels)
    return out.to(x.dtype)


def antialiased_resize(
    x: torch.Tensor,
    size: tuple[int, int],
    interpolation: str = "bicubic",
    align_corners: bool = True,
    antialias: bool = True,
) -> torch.Tensor:
    """`x` (`[batch, channels, height, width]`) resized to `size`, blurred first when it shrinks."""
    height, width = x.shape[-2:]
    if (height, width) == tuple(size):
        return x
    factors = (height / size[0], width / size[1])
    if antialias and max(factors) > 1:
        sigmas = tuple(max((f - 1.0) / 2.0, 0.001) for f in factors)
        sizes = tuple(int(max(4.0 * s, 3)) for s in sigmas)
        sizes = tuple(k + 1 if k % 2 == 0 else k for k in sizes)
        x = gaussian_blur2d(x, sizes, sigmas)
    return F.interpolate(x, size=tuple(size), mode=interpolation, align_corners=align_corners)
