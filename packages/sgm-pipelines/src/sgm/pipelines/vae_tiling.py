"""Image VAE decoding in overlapping tiles (`--vae-tiling`): one tile's activations alive at a time instead of the
whole image's, for a small blend error at the seams (see `sgm.autoencoders.tiling`)."""

import contextlib
from collections.abc import Iterator

import torch

from sgm.autoencoders.tiling import tiled_decode

VAE_TILE = 64  # latent pixels per tile side: 512 image pixels, a quarter overlap


@contextlib.contextmanager
def tiled_vae_decoding(first_stage: torch.nn.Module, enabled: bool = True) -> Iterator[None]:
    """Within the block, `first_stage.decode` decodes `VAE_TILE` x `VAE_TILE` latent tiles one at a time; a first
    stage without a decoder of images (the identity) is left as it is."""
    if not enabled or not hasattr(first_stage, "decode_tiled"):
        yield
        return
    plain = first_stage.decode
    first_stage.decode = lambda z, **kwargs: tiled_decode(lambda tile: plain(tile, **kwargs), z, VAE_TILE)
    try:
        yield
    finally:
        del first_stage.decode
