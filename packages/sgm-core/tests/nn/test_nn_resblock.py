import pytest
import torch
import torch.nn as nn

from sgm.core.nn.resblock import ResBlock, TimestepBlock, TimestepEmbedSequential
from sgm.core.nn.sampling import Downsample, Upsample

EMB = 16


def _randomize(module: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.2)
    return module


def _spatial(dims, size=8):
    return (size,) * dims if dims < 3 else (3, size, size)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_resblock_starts_as_its_skip_connection(dims):
    block = ResBlock(32, EMB, 0.0, out_channels=64, dims=dims).double()
    x = torch.randn(2, 32, *_spatial(dims), dtype=torch.float64)
    out = block(x, torch.randn(2, EMB, dtype=torch.float64))
    torch.testing.assert_close(out, block.skip_connection(x))  # the last conv is zero-initialised


@pytest.mark.parametrize(
    "kwargs, out_spatial",
    [
        ({}, (8, 8)),
        ({"down": True}, (4, 4)),
        ({"up": True}, (16, 16)),
        ({"use_scale_shift_norm": True}, (8, 8)),
        ({"out_channels": 64, "use_conv": True}, (8, 8)),
        ({"kernel_size": [3, 1]}, (8, 8)),
        ({"skip_t_emb": True}, (8, 8)),
    ],
)
def test_resblock_shapes(kwargs, out_spatial):
    block = _randomize(ResBlock(32, EMB, 0.0, **kwargs))
    out = block(torch.randn(2, 32, 8, 8), torch.randn(2, EMB))
    assert out.shape == (2, kwargs.get("out_channels", 32), *out_spatial)


def test_resblock_keys_follow_the_reference():
    keys = set(ResBlock(32, EMB, 0.0, out_channels=64).state_dict())
    assert keys == {
        "in_layers.0.weight", "in_layers.0.bias", "in_layers.2.weight", "in_layers.2.bias",
        "emb_layers.1.weight", "emb_layers.1.bias",
        "out_layers.0.weight", "out_layers.0.bias", "out_layers.3.weight", "out_layers.3.bias",
        "skip_connection.weight", "skip_connection.bias",
    }  # fmt: skip
    assert "skip_connection.weight" in ResBlock(32, EMB, 0.0, out_channels=64, use_conv=True).state_dict()
    assert ResBlock(32, EMB, 0.0, skip_t_emb=True).emb_layers is None


def test_scale_shift_is_film_on_the_norm():
    block = _randomize(ResBlock(32, EMB, 0.0, use_scale_shift_norm=True)).double()
    x, emb = torch.randn(2, 32, 4, 4, dtype=torch.float64), torch.randn(2, EMB, dtype=torch.float64)
    scale, shift = block.emb_layers(emb)[..., None, None].chunk(2, dim=1)
    h = block.in_layers(x)
    h = block.out_layers[0](h) * (1 + scale) + shift
    expected = x + block.out_layers[3](torch.nn.functional.silu(h))
    torch.testing.assert_close(block(x, emb), expected)


def test_exchange_temb_dims_adds_one_embedding_per_frame():
    block = _randomize(ResBlock(32, EMB, 0.0, dims=3, exchange_temb_dims=True, kernel_size=[3, 1, 1])).double()
    x = torch.randn(2, 32, 3, 4, 4, dtype=torch.float64)
    emb = torch.randn(2, 3, EMB, dtype=torch.float64)
    emb_out = block.emb_layers(emb).permute(0, 2, 1)[..., None, None]  # [B, C, T, 1, 1]
    expected = x + block.out_layers(block.in_layers(x) + emb_out)
    torch.testing.assert_close(block(x, emb), expected)


def test_resblock_rejects_skip_t_emb_with_scale_shift():
    with pytest.raises(ValueError, match="skip_t_emb"):
        ResBlock(32, EMB, 0.0, skip_t_emb=True, use_scale_shift_norm=True)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_resblock_runs_in_dtype(dtype):
    block = _randomize(ResBlock(32, EMB, 0.0, out_channels=64, use_scale_shift_norm=True)).to(dtype)
    out = block(torch.randn(2, 32, 4, 4).to(dtype), torch.randn(2, EMB).to(dtype))
    assert out.dtype == dtype and torch.isfinite(out).all()


@pytest.mark.parametrize(
    "module, shape, expected",
    [
        (Upsample(4, True), (1, 4, 5, 6), (1, 4, 10, 12)),
        (Upsample(4, False, dims=1), (1, 4, 5), (1, 4, 10)),
        (Upsample(4, True, dims=3, out_channels=8), (1, 4, 3, 5, 6), (1, 8, 3, 10, 12)),
        (Upsample(4, True, dims=3, third_up=True), (1, 4, 3, 5, 6), (1, 4, 6, 10, 12)),
        (Downsample(4, True, out_channels=8), (1, 4, 8, 6), (1, 8, 4, 3)),
        (Downsample(4, False), (1, 4, 8, 6), (1, 4, 4, 3)),
        (Downsample(4, True, dims=3), (1, 4, 4, 8, 6), (1, 4, 4, 4, 3)),
        (Downsample(4, False, dims=3, third_down=True), (1, 4, 4, 8, 6), (1, 4, 2, 4, 3)),
    ],
)
def test_sampling_shapes(module, shape, expected):
    assert module(torch.randn(shape)).shape == expected


def test_nearest_upsampling_repeats_pixels():
    x = torch.arange(4.0).reshape(1, 1, 2, 2)
    assert torch.equal(Upsample(1, False)(x), x.repeat_interleave(2, 2).repeat_interleave(2, 3))


def test_avg_pool_downsampling_averages():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert torch.equal(Downsample(1, False)(x), torch.tensor([[[[2.5, 4.5], [10.5, 12.5]]]]))


def test_downsample_without_conv_keeps_channels():
    with pytest.raises(ValueError, match="out_channels"):
        Downsample(4, False, out_channels=8)


class _Recorder(TimestepBlock):
    sequential_inputs = ("emb", "num_video_frames", "image_only_indicator", "camera")

    def forward(self, x, emb, num_video_frames, image_only_indicator, camera):
        self.seen = (emb, num_video_frames, image_only_indicator, camera)
        return x + 1


def test_sequential_passes_each_block_what_it_declares():
    recorder = _Recorder()
    seq = TimestepEmbedSequential(nn.Identity(), recorder)
    emb, indicator = torch.zeros(1), torch.ones(1)
    out = seq(torch.zeros(1), emb, None, image_only_indicator=indicator, num_video_frames=5, camera="cam")
    assert out.item() == 1
    assert recorder.seen == (emb, 5, indicator, "cam")
