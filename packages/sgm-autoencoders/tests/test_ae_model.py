import pytest
import torch

from sgm.autoencoders.blocks import AttnBlock, LinAttnBlock, NoAttention, make_attn
from sgm.autoencoders.model import Decoder, Encoder
from sgm.kernels import use_backend


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_encoder_decoder_shapes(make_ddconfig):
    config = make_ddconfig(attn_resolutions=[8], ch_mult=[1, 2, 2])
    encoder, decoder = Encoder(**config), Decoder(**config)
    x = torch.randn(2, 3, 16, 16)
    moments = encoder(x)
    assert moments.shape == (2, 8, 4, 4)  # double_z: mean and logvar, factor 4
    assert decoder(moments[:, :4]).shape == (2, 3, 16, 16)
    assert decoder.z_shape == (1, 4, 4, 4)
    assert Encoder(**make_ddconfig(double_z=False))(x).shape == (2, 4, 8, 8)


def test_key_names_follow_the_reference(make_ddconfig):
    config = make_ddconfig(attn_resolutions=[16])
    keys = set(Decoder(**config).state_dict()) | {f"enc.{k}" for k in Encoder(**config).state_dict()}
    for key in (
        "mid.block_1.norm1.weight",
        "mid.attn_1.q.weight",
        "mid.attn_1.proj_out.bias",
        "up.0.block.0.nin_shortcut.weight",
        "up.1.upsample.conv.weight",
        "up.0.attn.1.k.weight",
        "conv_out.weight",
        "enc.down.0.downsample.conv.weight",
        "enc.down.1.block.0.nin_shortcut.weight",
        "enc.norm_out.bias",
    ):
        assert key in keys


def test_decoder_options(make_ddconfig):
    z = torch.randn(1, 4, 8, 8)
    pre_end = Decoder(**make_ddconfig(give_pre_end=True))(z)
    assert pre_end.shape == (1, 32, 16, 16)
    out = Decoder(**make_ddconfig(tanh_out=True))(z)
    assert out.abs().max() <= 1.0
    assert Decoder(**make_ddconfig(use_linear_attn=True)).mid.attn_1.__class__ is LinAttnBlock


def test_attention_types():
    assert isinstance(make_attn(32, "vanilla"), AttnBlock)
    assert isinstance(make_attn(32, "vanilla-xformers"), AttnBlock)
    assert isinstance(make_attn(32, "none"), NoAttention)
    with pytest.raises(ValueError, match="attn_type"):
        make_attn(32, "flash")


def test_attention_block_matches_the_formula():
    block = AttnBlock(32).double()
    x = torch.randn(2, 32, 4, 4, dtype=torch.float64)
    h = block.norm(x)
    q, k, v = (conv(h).flatten(2) for conv in (block.q, block.k, block.v))  # [b, c, hw]
    weights = torch.softmax(q.transpose(1, 2) @ k / 32**0.5, dim=-1)  # [b, hw, hw]
    expected = x + block.proj_out((v @ weights.transpose(1, 2)).view_as(x))
    for backend in ("math", "sdpa"):
        with use_backend(backend):
            torch.testing.assert_close(block(x), expected)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_every_dtype_runs_and_keeps_its_dtype(make_ddconfig, dtype):
    config = make_ddconfig(attn_resolutions=[8])
    encoder, decoder = Encoder(**config), Decoder(**config)
    x = torch.randn(1, 3, 16, 16)
    reference = decoder(encoder(x)[:, :4])
    encoder, decoder = encoder.to(dtype), decoder.to(dtype)
    out = decoder(encoder(x.to(dtype))[:, :4])
    assert out.dtype == dtype
    assert torch.isfinite(out).all()
    tolerance = {torch.float16: 5e-2, torch.bfloat16: 2e-1}.get(dtype, 1e-4)
    torch.testing.assert_close(out.float(), reference, atol=tolerance, rtol=tolerance)
