"""Timestep/class/identity/rescaler embedders and the antialiased resize of the image preprocess."""

import pytest
import torch
import torch.nn.functional as F
from sgm.conditioners.image_resize import antialiased_resize, gaussian_blur2d, gaussian_kernel1d
from sgm.conditioners.simple import ConcatTimestepEmbedderND, IdentityEncoder, SpatialRescaler
from sgm.core.nn.timestep import timestep_embedding


def test_concat_timestep_embeds_each_column():
    sizes = torch.tensor([[1024.0, 768.0], [512.0, 512.0]])
    out = ConcatTimestepEmbedderND(outdim=6)(sizes)
    expected = torch.cat([timestep_embedding(sizes[:, 0], 6), timestep_embedding(sizes[:, 1], 6)], dim=1)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(ConcatTimestepEmbedderND(6)(sizes[:, 0]), expected[:, :6])  # [batch] is one column
    assert ConcatTimestepEmbedderND(6)(sizes.double()).dtype == torch.float64
    with pytest.raises(ValueError, match="shape"):
        ConcatTimestepEmbedderND(6)(torch.zeros(2, 2, 2))


def test_identity_and_rescaler():
    x = torch.randn(2, 3, 8, 8)
    assert IdentityEncoder()(x) is x
    torch.testing.assert_close(SpatialRescaler(n_stages=2, method="area")(x), F.avg_pool2d(x, 4))
    mapped = SpatialRescaler(n_stages=1, in_channels=3, out_channels=5, kernel_size=3)
    assert mapped(x).shape == (2, 5, 4, 4) and set(mapped.state_dict()) == {"channel_mapper.weight"}
    video = torch.randn(2, 3, 4, 8, 8)  # [batch, channels, frames, h, w]
    out = SpatialRescaler(method="nearest", wrap_video=True)(video)
    torch.testing.assert_close(out[:, :, 1], SpatialRescaler(method="nearest")(video[:, :, 1]))
    with pytest.raises(ValueError, match="method"):
        SpatialRescaler(method="lanczos")


def test_gaussian_kernel_and_blur():
    kernel = gaussian_kernel1d(7, 1.5, torch.float64, torch.device("cpu"))
    torch.testing.assert_close(kernel.sum(), torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(kernel, kernel.flip(0))
    x = torch.randn(1, 2, 12, 10, dtype=torch.float64)
    blurred = gaussian_blur2d(x, (5, 3), (1.0, 0.5))
    k2d = gaussian_kernel1d(5, 1.0, x.dtype, x.device)[:, None] * gaussian_kernel1d(3, 0.5, x.dtype, x.device)[None]
    direct = F.conv2d(F.pad(x, (1, 1, 2, 2), mode="reflect"), k2d.expand(2, 1, 5, 3), groups=2)
    torch.testing.assert_close(blurred, direct)


def test_antialiased_resize():
    constant = torch.full((1, 3, 60, 90), 0.25)
    torch.testing.assert_close(antialiased_resize(constant, (20, 20)), torch.full((1, 3, 20, 20), 0.25))
    x = torch.randn(1, 3, 8, 8)
    assert antialiased_resize(x, (8, 8)) is x
    up = F.interpolate(x, size=(16, 12), mode="bicubic", align_corners=True)
    torch.testing.assert_close(antialiased_resize(x, (16, 12)), up)  # no blur when enlarging
    big = torch.randn(1, 3, 64, 64)
    plain = F.interpolate(big, size=(16, 16), mode="bicubic", align_corners=True)
    smooth = antialiased_resize(big, (16, 16))
    assert smooth.std() < plain.std()  # the blur removes the noise that plain subsampling keeps
    torch.testing.assert_close(antialiased_resize(big, (16, 16), antialias=False), plain)
