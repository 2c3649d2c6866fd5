"""Tiny VideoUNet and SpatialUNetModelWithTime: the full models' code paths, on CPU, in fp32 / fp64 / bf16."""

import pytest
import torch

from sgm.core.config import instantiate

TINY_VIDEO_UNET = {
    "target": "sgm.modules.diffusionmodules.video_model.VideoUNet",
    "params": dict(
        adm_in_channels=24,
        num_classes="sequential",
        in_channels=8,
        out_channels=4,
        model_channels=32,
        attention_resolutions=[2, 1],
        num_res_blocks=1,
        channel_mult=[1, 2],
        num_head_channels=16,
        use_linear_in_transformer=True,
        transformer_depth=1,
        context_dim=32,
        spatial_transformer_attn_type="softmax-xformers",
        extra_ff_mix_layer=True,
        use_spatial_context=True,
        merge_strategy="learned_with_images",
        video_kernel_size=[3, 1, 1],
    ),
}


def tiny_sv4d_config(**overrides) -> dict:
    params = dict(
        adm_in_channels=128,
        attention_resolutions=[2, 1],
        channel_mult=[1, 2],
        context_dim=32,
        motion_context_dim=4,
        extra_ff_mix_layer=True,
        in_channels=8,
        legacy=False,
        model_channels=32,
        num_classes="sequential",
        num_head_channels=16,
        num_res_blocks=1,
        out_channels=4,
        replicate_time_mix_bug=True,
        spatial_transformer_attn_type="softmax-xformers",
        time_block_merge_factor=0.0,
        time_block_merge_strategy="learned_with_images",
        time_kernel_size=[3, 1, 1],
        time_mix_legacy=False,
        transformer_depth=1,
        use_linear_in_transformer=True,
        use_spatial_context=True,
        use_spatial_transformer=True,
        use_motion_attention=True,
    )
    params.update(overrides)
    return {"target": "sgm.modules.diffusionmodules.video_model.SpatialUNetModelWithTime", "params": params}


SV4D_VARIANTS = {
    "sv4d": {},
    "sv4d2": dict(separate_motion_merge_factor=True, use_3d_attention=True, use_camera_emb=True),
    "sv4d2_8views": dict(separate_motion_merge_factor=True, use_camera_emb=True),
}


def randomised(network: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights everywhere (the zero-initialised output layers would hide every path)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    return network.eval()


def video_inputs(videos=2, frames=2, dtype=torch.float32, seed=1):
    g = torch.Generator().manual_seed(seed)
    n = videos * frames
    return dict(
        x=torch.randn(n, 8, 16, 16, generator=g).to(dtype),
        timesteps=torch.rand(n, generator=g).to(dtype) * 999,
        context=torch.randn(n, 1, 32, generator=g).to(dtype),
        y=torch.randn(n, 24, generator=g).to(dtype),
        num_video_frames=frames,
        image_only_indicator=torch.zeros(videos, frames, dtype=dtype),
    )


def sv4d_inputs(videos=2, frames=2, views=2, dtype=torch.float32, seed=1):
    g = torch.Generator().manual_seed(seed)
    n = videos * frames * views
    return dict(
        x=torch.randn(n, 8, 16, 16, generator=g).to(dtype),
        timesteps=torch.full((n,), 500.0, dtype=dtype),
        context=torch.randn(videos, frames, 32, generator=g).to(dtype),
        y=torch.randn(n, 128, generator=g).to(dtype),
        num_video_frames=frames * views,
        image_only_indicator=torch.zeros(videos, frames * views, dtype=dtype),
        cond_view=torch.randn(videos * views, 4, 16, 16, generator=g).to(dtype),
    )


@pytest.fixture(scope="module")
def video_unet():
    torch.manual_seed(0)
    return randomised(instantiate(TINY_VIDEO_UNET))


@pytest.fixture(scope="module", params=sorted(SV4D_VARIANTS))
def sv4d_unet(request):
    torch.manual_seed(0)
    return randomised(instantiate(tiny_sv4d_config(**SV4D_VARIANTS[request.param])))


def select(inputs: dict, videos: slice, frames: int) -> dict:
    """The inputs of a sub-batch of videos."""
    rows = slice(videos.start * frames, videos.stop * frames)
    out = dict(inputs)
    for key in ("x", "timesteps", "context", "y"):
        out[key] = inputs[key][rows]
    out["image_only_indicator"] = inputs["image_only_indicator"][videos]
    return out


@torch.no_grad()
def test_video_unet_shape_and_batch_independence(video_unet):
    inputs = video_inputs()
    out = video_unet(**inputs)
    assert out.shape == (4, 4, 16, 16) and out.dtype == torch.float32 and torch.isfinite(out).all()
    second = video_unet(**select(inputs, slice(1, 2), 2))
    torch.testing.assert_close(out[2:], second, rtol=1e-4, atol=1e-4)


@torch.no_grad()
def test_video_unet_mixes_frames_unless_they_are_marked_images(video_unet):
    inputs = video_inputs()
    changed = dict(inputs, x=inputs["x"].clone())
    changed["x"][1] += 1.0  # perturb frame 1 of video 0
    base, moved = video_unet(**inputs), video_unet(**changed)
    assert (base[0] - moved[0]).abs().max() > 1e-3  # temporal layers carry frame 1 into frame 0

    as_images = dict(inputs, image_only_indicator=torch.ones(2, 2))
    changed_images = dict(changed, image_only_indicator=torch.ones(2, 2))
    torch.testing.assert_close(video_unet(**as_images)[0], video_unet(**changed_images)[0], rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_video_unet_fp64_stays_fp64_and_agrees_with_fp32(video_unet):
    out32 = video_unet(**video_inputs())
    net64 = video_unet.double()
    try:
        out64 = net64(**video_inputs(dtype=torch.float64))
    finally:
        video_unet.float()
    assert out64.dtype == torch.float64
    torch.testing.assert_close(out64.float(), out32, rtol=1e-3, atol=1e-3)


@torch.no_grad()
def test_video_unet_runs_in_bf16(video_unet):
    out32 = video_unet(**video_inputs())
    video_unet.to(torch.bfloat16)
    try:
        out = video_unet(**video_inputs(dtype=torch.bfloat16))
    finally:
        video_unet.float()
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    assert (out.float() - out32).abs().mean() < 0.1 * out32.abs().mean()


def test_video_unet_needs_num_video_frames(video_unet):
    with pytest.raises(ValueError, match="num_video_frames"):
        video_unet(**dict(video_inputs(), num_video_frames=3))


@torch.no_grad()
def test_sv4d_shape_and_batch_independence(sv4d_unet):
    inputs = sv4d_inputs()
    out = sv4d_unet(**inputs)
    assert out.shape == (8, 4, 16, 16) and torch.isfinite(out).all()
    second = dict(inputs)
    second.update(
        x=inputs["x"][4:],
        timesteps=inputs["timesteps"][4:],
        context=inputs["context"][1:],
        y=inputs["y"][4:],
        image_only_indicator=inputs["image_only_indicator"][1:],
        cond_view=inputs["cond_view"][2:],
    )
    torch.testing.assert_close(out[4:], sv4d_unet(**second), rtol=1e-4, atol=1e-4)


@torch.no_grad()
def test_sv4d_output_depends_on_the_reference_views(sv4d_unet):
    inputs = sv4d_inputs()
    other_views = dict(inputs, cond_view=inputs["cond_view"] + 1.0)
    assert (sv4d_unet(**inputs) - sv4d_unet(**other_views)).abs().max() > 1e-3


@torch.no_grad()
def test_sv4d_fp64_and_bf16(sv4d_unet):
    out32 = sv4d_unet(**sv4d_inputs())
    try:
        out64 = sv4d_unet.double()(**sv4d_inputs(dtype=torch.float64))
        out16 = sv4d_unet.to(torch.bfloat16)(**sv4d_inputs(dtype=torch.bfloat16))
    finally:
        sv4d_unet.float()
    assert out64.dtype == torch.float64 and out16.dtype == torch.bfloat16
    torch.testing.assert_close(out64.float(), out32, rtol=1e-3, atol=1e-3)
    assert (out16.float() - out32).abs().mean() < 0.1 * out32.abs().mean()


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(use_motion_attention=False), "use_motion_attention"),
        (dict(time_mix_legacy=True), "time_mix_legacy"),
        (dict(use_camera_emb=True, adm_in_channels=64), "adm_in_channels"),
    ],
)
def test_sv4d_unsupported_reference_branches_are_clear_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        instantiate(tiny_sv4d_config(**overrides))
