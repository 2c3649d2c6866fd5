"""Tiny configs that run the same code paths as the full-size first stages."""

import pytest


def _tiny_ddconfig(**overrides) -> dict:
    config = dict(
        attn_type="vanilla",
        double_z=True,
        z_channels=4,
        resolution=16,
        in_channels=3,
        out_ch=3,
        ch=32,  # the reference's GroupNorm has 32 groups, so 32 channels is the smallest width
        ch_mult=[1, 2],
        num_res_blocks=1,
        attn_resolutions=[],
        dropout=0.0,
    )
    config.update(overrides)
    return config


@pytest.fixture
def make_ddconfig():
    """`make_ddconfig(**overrides)`: a 2-level `ddconfig` (downsampling factor 2) for 16x16 images."""
    return _tiny_ddconfig
