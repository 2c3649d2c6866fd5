"""The video blocks: AlphaBlender, VideoResBlock, VideoTransformerBlock, SpatialVideoTransformer."""

import json
from pathlib import Path

import pytest
import torch

from sgm.core.nn.alpha_blender import AlphaBlender
from sgm.core.nn.resblock import ResBlock, TimestepEmbedSequential
from sgm.core.nn.transformer import SpatialTransformer
from sgm.core.nn.video_resblock import VideoResBlock
from sgm.core.nn.video_transformer import SpatialVideoTransformer, VideoTransformerBlock

LAYOUTS = Path(__file__).parents[4] / "../shared/reference/layouts"
B, T, EMB, CTX = 2, 3, 16, 12


def _randomize(module, seed=0):
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.2)
    return module


def _video_transformer(**kwargs):
    params = dict(
        use_linear=True, context_dim=CTX, use_spatial_context=True, merge_strategy="learned_with_images",
        ff_in=True, attn_mode="softmax-xformers",
    )  # fmt: skip
    return SpatialVideoTransformer(32, 2, 16, **{**params, **kwargs})


def test_alpha_blender_strategies():
    xs, xt = torch.randn(B * T, 4, 5), torch.randn(B * T, 4, 5)
    fixed = AlphaBlender(0.3, merge_strategy="fixed")
    torch.testing.assert_close(fixed(xs, xt), 0.3 * xs + 0.7 * xt)
    assert "mix_factor" in fixed.state_dict() and not list(fixed.parameters())
    learned = AlphaBlender(0.3, merge_strategy="learned")
    a = torch.sigmoid(torch.tensor(0.3))
    torch.testing.assert_close(learned(xs, xt), a * xs + (1 - a) * xt)
    assert [n for n, _ in learned.named_parameters()] == ["mix_factor"]


def test_learned_with_images_keeps_image_frames_spatial():
    blender = AlphaBlender(0.3)
    indicator = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    xs, xt = torch.randn(B * T, 4, 5), torch.randn(B * T, 4, 5)
    out = blender(xs, xt, image_only_indicator=indicator)
    a = torch.sigmoid(torch.tensor(0.3))
    for i, is_image in enumerate(indicator.flatten().tolist()):
        torch.testing.assert_close(out[i], xs[i] if is_image else a * xs[i] + (1 - a) * xt[i])
    video = AlphaBlender(0.3, rearrange_pattern="b t -> b 1 t 1 1")
    xs5, xt5 = torch.randn(B, 4, T, 2, 2), torch.randn(B, 4, T, 2, 2)
    torch.testing.assert_close(video(xs5, xt5, indicator)[0, :, 0], xs5[0, :, 0])


def test_alpha_blender_errors():
    with pytest.raises(ValueError, match="merge_strategy"):
        AlphaBlender(0.5, merge_strategy="average")
    with pytest.raises(ValueError, match="image_only_indicator"):
        AlphaBlender(0.5)(torch.zeros(1), torch.zeros(1))


def test_video_resblock_shape_and_temporal_stack():
    block = _randomize(VideoResBlock(32, EMB, 0.0, video_kernel_size=[3, 1, 1], out_channels=64, down=True))
    x, emb = torch.randn(B * T, 32, 8, 8), torch.randn(B * T, EMB)
    out = block(x, emb, num_video_frames=T)
    assert out.shape == (B * T, 64, 4, 4)
    assert block.time_stack.in_layers[2].weight.shape == (64, 64, 3, 1, 1)
    # the time stack mixes frames: changing frame 0 of video 0 changes its other frames, not video 1
    x2 = x.clone()
    x2[0] += 1
    out2 = block(x2, emb, num_video_frames=T)
    assert not torch.allclose(out2[1], out[1]) and torch.allclose(out2[T:], out[T:])


def test_video_resblock_on_images_is_the_spatial_resblock():
    video = _randomize(VideoResBlock(32, EMB, 0.0, merge_strategy="learned_with_images")).double()
    spatial = ResBlock(32, EMB, 0.0).double()
    spatial.load_state_dict(video.state_dict(), strict=False)
    x, emb = torch.randn(B * T, 32, 4, 4, dtype=torch.float64), torch.randn(B * T, EMB, dtype=torch.float64)
    out = video(x, emb, T, image_only_indicator=torch.ones(B, T))
    torch.testing.assert_close(out, spatial(x, emb))


def test_video_transformer_block_mixes_frames_of_one_pixel_only():
    block = _randomize(VideoTransformerBlock(32, 2, 16, context_dim=CTX, timesteps=T, checkpoint=False)).double()
    x = torch.randn(B * T, 5, 32, dtype=torch.float64)
    context = torch.randn(B * 5, 1, CTX, dtype=torch.float64)
    out = block(x, context)
    assert out.shape == x.shape
    x2 = x.clone()
    x2[0, 2] += 1  # video 0, frame 0, token 2
    diff = (block(x2, context) - out).abs().amax(dim=-1)
    assert torch.all(diff[:T, 2] > 0)  # every frame of that pixel changes
    assert torch.all(diff[:, [0, 1, 3, 4]] == 0) and torch.all(diff[T:] == 0)


def test_video_transformer_block_options():
    assert VideoTransformerBlock(32, 2, 16, timesteps=T, disable_temporal_crossattention=True).attn2 is None
    assert VideoTransformerBlock(32, 2, 16, context_dim=CTX, switch_temporal_ca_to_sa=True).attn2.to_k.in_features == 32
    with pytest.raises(ValueError, match="n_heads"):
        VideoTransformerBlock(32, 2, 8)
    with pytest.raises(ValueError, match="frames"):
        VideoTransformerBlock(32, 2, 16, timesteps=T, checkpoint=False)(torch.randn(T, 1, 32), timesteps=T + 1)


def test_spatial_video_transformer_on_images_is_the_spatial_transformer():
    video = _randomize(_video_transformer(checkpoint=False)).double()
    spatial = SpatialTransformer(32, 2, 16, context_dim=CTX, use_linear=True, use_checkpoint=False).double()
    spatial.load_state_dict(video.state_dict(), strict=False)
    x = torch.randn(B * T, 32, 4, 4, dtype=torch.float64)
    context = torch.randn(B * T, 5, CTX, dtype=torch.float64)
    out = video(x, context, timesteps=T, image_only_indicator=torch.ones(B, T))
    torch.testing.assert_close(out, spatial(x, context))
    mixed = video(x, context, timesteps=T, image_only_indicator=torch.zeros(B, T))
    assert mixed.shape == x.shape and not torch.allclose(mixed, out)


def test_spatial_video_transformer_with_time_context():
    block = _randomize(
        SpatialVideoTransformer(32, 2, 16, context_dim=CTX, time_context_dim=8, merge_strategy="fixed", timesteps=T)
    )
    out = block(torch.randn(B * T, 32, 4, 4), torch.randn(B * T, 5, CTX), time_context=torch.randn(B, 8), timesteps=T)
    assert out.shape == (B * T, 32, 4, 4)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64])
def test_video_blocks_run_in_dtype_through_the_sequential(dtype):
    seq = TimestepEmbedSequential(
        VideoResBlock(32, EMB, 0.0, merge_strategy="learned_with_images", video_kernel_size=[3, 1, 1]),
        _video_transformer(checkpoint=False),
    )
    seq = _randomize(seq).to(dtype)
    x, emb = torch.randn(B * T, 32, 4, 4).to(dtype), torch.randn(B * T, EMB).to(dtype)
    context = torch.randn(B * T, 5, CTX).to(dtype)
    out = seq(x, emb, context, image_only_indicator=torch.zeros(B, T), num_video_frames=T)
    assert out.shape == x.shape and out.dtype == dtype and torch.isfinite(out).all()


def test_checkpointed_video_transformer_gives_the_same_gradients():
    x = torch.randn(B * T, 32, 2, 2, dtype=torch.float64)
    context = torch.randn(B * T, 5, CTX, dtype=torch.float64)
    grads = []
    for checkpoint in (False, True):
        block = _randomize(_video_transformer(checkpoint=checkpoint)).double()
        block(x, context, timesteps=T, image_only_indicator=torch.zeros(B, T)).square().sum().backward()
        grads.append([p.grad for p in block.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_keys_match_the_svd_layout():
    path = LAYOUTS / "svd.json"
    if not path.is_file():
        pytest.skip("reference layout svd.json not present beside the repository")
    layout = json.loads(path.read_text())
    with torch.device("meta"):
        blocks = {
            "input_blocks.1.0": VideoResBlock(
                320, 1280, 0.0, video_kernel_size=[3, 1, 1], merge_strategy="learned_with_images", out_channels=320
            ),
            "input_blocks.1.1": SpatialVideoTransformer(
                320, 5, 64, context_dim=1024, use_linear=True, use_spatial_context=True, ff_in=True,
                merge_strategy="learned_with_images", attn_mode="softmax-xformers", checkpoint=True,
            ),
        }  # fmt: skip
    for prefix, block in blocks.items():
        full = f"model.diffusion_model.{prefix}."
        reference = {k[len(full) :]: shape for k, (shape, _) in layout.items() if k.startswith(full)}
        assert {k: list(v.shape) for k, v in block.state_dict().items()} == reference
