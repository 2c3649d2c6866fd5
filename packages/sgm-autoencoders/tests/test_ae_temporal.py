import pytest
import torch

from sgm.autoencoders.temporal import AE3DConv, VideoBlock, VideoDecoder, VideoResBlock
from sgm.core.config import instantiate


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("time_mode", ["conv-only", "all", "attn-only"])
def test_video_decoder_shapes(make_ddconfig, time_mode):
    decoder = VideoDecoder(**make_ddconfig(), video_kernel_size=[3, 1, 1], time_mode=time_mode)
    z = torch.randn(6, 4, 8, 8)  # 2 videos of 3 frames
    assert decoder(z, timesteps=3).shape == (6, 3, 16, 16)
    assert decoder(z, skip_video=True).shape == (6, 3, 16, 16)
    expected_last = decoder.conv_out.weight if time_mode == "attn-only" else decoder.conv_out.time_mix_conv.weight
    assert decoder.get_last_layer() is expected_last


def test_video_decoder_needs_timesteps(make_ddconfig):
    decoder = VideoDecoder(**make_ddconfig())
    with pytest.raises(ValueError, match="timesteps"):
        decoder(torch.randn(4, 4, 8, 8))
    with pytest.raises(ValueError, match="timesteps"):
        decoder(torch.randn(4, 4, 8, 8), timesteps=3)


def test_frames_of_different_videos_do_not_mix(make_ddconfig):
    decoder = VideoDecoder(**make_ddconfig(), video_kernel_size=3, time_mode="all").eval()
    z = torch.randn(4, 4, 8, 8)
    both = decoder(z, timesteps=2)
    torch.testing.assert_close(both[:2], decoder(z[:2], timesteps=2))
    torch.testing.assert_close(both[2:], decoder(z[2:], timesteps=2))


def test_mix_factor_names_and_blending():
    block = VideoResBlock(in_channels=32, out_channels=32, temb_channels=0, alpha=0.3, merge_strategy="fixed")
    assert "mix_factor" in dict(block.named_buffers())
    assert "mix_factor" in dict(VideoBlock(32).named_parameters())
    x = torch.randn(4, 32, 4, 4)
    spatial = super(VideoResBlock, block).forward(x, None)
    temporal = block.time_stack(spatial.view(2, 2, 32, 4, 4).transpose(1, 2), None).transpose(1, 2).reshape(4, 32, 4, 4)
    torch.testing.assert_close(block(x, None, timesteps=2), 0.3 * temporal + 0.7 * spatial)
    learned = VideoResBlock(in_channels=32, out_channels=32, temb_channels=0, alpha=0.0)
    assert learned.get_alpha(None).item() == 0.5  # sigmoid(0)
    with pytest.raises(ValueError, match="merge_strategy"):
        VideoResBlock(in_channels=32, out_channels=32, merge_strategy="learned_with_images")


def test_ae3d_conv_mixes_only_along_time():
    conv = AE3DConv(4, 4, video_kernel_size=[3, 1, 1], kernel_size=3, padding=1)
    x = torch.randn(3, 4, 5, 5)
    out = conv(x, timesteps=3)
    assert conv.time_mix_conv.weight.shape == (4, 4, 3, 1, 1)
    torch.testing.assert_close(
        conv(x, skip_video=True), torch.nn.functional.conv2d(x, conv.weight, conv.bias, padding=1)
    )
    assert out.shape == x.shape


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float64])
def test_video_decoder_dtypes(make_ddconfig, dtype):
    decoder = VideoDecoder(**make_ddconfig(), time_mode="all").to(dtype)
    out = decoder(torch.randn(2, 4, 8, 8, dtype=dtype), timesteps=2)
    assert out.dtype == dtype and torch.isfinite(out).all()


def test_engine_passes_timesteps_to_the_video_decoder(make_ddconfig):
    config = make_ddconfig()
    engine = instantiate(
        {
            "target": "sgm.models.autoencoder.AutoencodingEngine",
            "params": {
                "loss_config": {"target": "torch.nn.Identity"},
                "regularizer_config": {"target": "sgm.modules.autoencoding.regularizers.DiagonalGaussianRegularizer"},
                "encoder_config": {"target": "sgm.modules.diffusionmodules.model.Encoder", "params": config},
                "decoder_config": {
                    "target": "sgm.modules.autoencoding.temporal_ae.VideoDecoder",
                    "params": {**config, "video_kernel_size": [3, 1, 1]},
                },
            },
        }
    ).eval()
    assert engine.decoder_takes_timesteps
    z = torch.randn(4, 4, 8, 8)
    with torch.no_grad():
        full = engine.decode(z, timesteps=4)
        assert full.shape == (4, 3, 16, 16)
        torch.testing.assert_close(engine.decode_tiled(z, tile_size=8, timesteps=4), full)
