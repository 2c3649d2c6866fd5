import pytest
import torch
import torch.nn.functional as F

from sgm.autoencoders.tiling import apply_in_chunks, tile_starts, tiled_decode
from sgm.core.config import instantiate


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_tiles_cover_the_latent():
    assert tile_starts(10, 16, 4) == [0]
    assert tile_starts(20, 8, 2) == [0, 6, 12]
    for start, nxt in zip(tile_starts(37, 8, 3), tile_starts(37, 8, 3)[1:]):
        assert start + 8 - nxt >= 3  # consecutive tiles share at least the overlap
    assert tile_starts(37, 8, 3)[-1] + 8 == 37


def test_pointwise_decoder_is_reproduced_everywhere():
    """With weights that sum to one, blending the tiles of a pointwise decoder gives the full decode."""
    z = torch.randn(2, 4, 21, 18, dtype=torch.float64)
    decode = lambda t: F.interpolate(t.tanh(), scale_factor=4, mode="nearest")  # noqa: E731
    torch.testing.assert_close(tiled_decode(decode, z, tile_size=8, overlap=3), decode(z))


def test_local_decoder_is_exact_away_from_seams():
    """A 3x3 convolution decoder: pixels covered by one tile, away from its edge, equal the full decode exactly."""
    conv = torch.nn.Conv2d(4, 3, 3, padding=1).double()
    decode = lambda t: conv(F.interpolate(t, scale_factor=2, mode="nearest"))  # noqa: E731
    z = torch.randn(1, 4, 16, 16, dtype=torch.float64)
    tiled, full = tiled_decode(decode, z, tile_size=10, overlap=4), decode(z)
    # tiles start at 0 and 6 (latent); only the first covers latent rows/cols 0..5 -> image pixels 0..11
    torch.testing.assert_close(tiled[..., :11, :11], full[..., :11, :11], rtol=0, atol=0)
    torch.testing.assert_close(tiled[..., 21:, 21:], full[..., 21:, 21:], rtol=0, atol=0)


def test_single_tile_is_the_full_decode(make_ddconfig):
    model = instantiate(
        {
            "target": "sgm.models.autoencoder.AutoencoderKLModeOnly",
            "params": {"embed_dim": 4, "ddconfig": make_ddconfig(), "lossconfig": {"target": "torch.nn.Identity"}},
        }
    ).eval()
    z = torch.randn(1, 4, 8, 8)
    torch.testing.assert_close(model.decode_tiled(z, tile_size=8, overlap=2), model.decode(z), rtol=0, atol=0)


def test_real_decoder_tiles_are_decoded_and_blended_linearly(make_ddconfig):
    """Each tile is the decoder's own output on that latent tile; across an overlap the two tiles are mixed with
    linear weights that sum to one. (GroupNorm sees one tile, so a tile differs from the full decode.)"""
    model = (
        instantiate(
            {
                "target": "sgm.models.autoencoder.AutoencoderKLModeOnly",
                "params": {"embed_dim": 4, "ddconfig": make_ddconfig(), "lossconfig": {"target": "torch.nn.Identity"}},
            }
        )
        .eval()
        .double()
    )
    z = torch.randn(3, 4, 8, 14, dtype=torch.float64)
    with torch.no_grad():
        tiled = model.decode_tiled(z, tile_size=8, overlap=2, max_batch_size=2)
        left, right = model.decode(z[..., :8]), model.decode(z[..., 6:])  # latent columns 0-7 and 6-13
    assert tiled.shape == (3, 3, 16, 28)
    torch.testing.assert_close(tiled[..., :12], left[..., :12], rtol=0, atol=1e-12)
    torch.testing.assert_close(tiled[..., 16:], right[..., 4:], rtol=0, atol=1e-12)
    rising = (torch.arange(4, dtype=torch.float64) + 0.5) / 4
    torch.testing.assert_close(tiled[..., 12:16], left[..., 12:] * (1 - rising) + right[..., :4] * rising)


def test_batch_chunks_equal_the_full_batch():
    weight = torch.randn(3, 3)
    decode = lambda t: torch.einsum("ij,bj...->bi...", weight, t)  # noqa: E731
    z = torch.randn(7, 3, 2, 2)
    torch.testing.assert_close(apply_in_chunks(decode, z, 3), decode(z))
    with pytest.raises(ValueError, match="max_batch_size"):
        apply_in_chunks(decode, z, 0)


def test_bad_tile_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="overlap"):
        tiled_decode(lambda t: t, torch.zeros(1, 1, 8, 8), tile_size=4, overlap=4)
    with pytest.raises(ValueError, match=r"\[b, c, h, w\]"):
        tiled_decode(lambda t: t, torch.zeros(1, 8, 8), tile_size=4, overlap=1)
