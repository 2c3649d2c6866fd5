"""Pipelines end to end on tiny versions of the shipped configs (real conditioners, VAE encoders, networks,
samplers, guiders and decoders) on CPU, on the shared inputs."""

import numpy as np
import pytest
import torch
from PIL import Image

from sgm.core.errors import SgmError
from sgm.pipelines import ImageToVideoPipeline, VideoTo4DPipeline, build_pipeline


@pytest.fixture(scope="module")
def tiny_pipeline(tiny_config):
    def build(name: str, **kwargs):
        torch.manual_seed(0)
        return build_pipeline(tiny_config(name), name=name, device="cpu", **kwargs)

    return build


def wake_zero_layers(pipeline):
    """Random values in the network's zero-initialised layers, so every conditioning reaches the output."""
    with torch.no_grad():
        for parameter in pipeline.engine.model.parameters():
            if parameter.dim() > 1 and not parameter.any():
                parameter.normal_(std=0.1)
    return pipeline


@pytest.fixture(scope="module")
def svd(tiny_pipeline):
    return wake_zero_layers(tiny_pipeline("svd"))


def test_svd_image_to_video_is_seeded_and_follows_the_image(svd, shared_input):
    assert isinstance(svd, ImageToVideoPipeline)
    image = Image.open(shared_input("test_image.png"))
    frames = svd.image_to_video(image, seed=5)
    assert len(frames) == 2 and frames[0].size == (32, 16)
    again = svd.image_to_video(image, seed=5)
    assert [f.tobytes() for f in frames] == [f.tobytes() for f in again]
    other = svd.image_to_video(Image.new("RGB", image.size, "white"), seed=5)
    assert [f.tobytes() for f in frames] != [f.tobytes() for f in other]


def test_svd_loads_its_own_state_dict_strictly(svd, tiny_pipeline, shared_input):
    image = Image.open(shared_input("test_image.png"))
    reloaded = tiny_pipeline("svd", checkpoint=svd.engine.state_dict())
    expected = svd.image_to_video(image, seed=3)
    assert [f.tobytes() for f in reloaded.image_to_video(image, seed=3)] == [f.tobytes() for f in expected]


def test_bad_numbers_are_clear_errors(svd):
    image = Image.new("RGB", (32, 16))
    with pytest.raises(SgmError, match="steps"):
        svd.image_to_video(image, steps=0)
    with pytest.raises(SgmError, match="motion_bucket_id"):
        svd.image_to_video(image, motion_bucket_id=5000)


def test_sv3d_u_orbit_ends_with_the_input_view(tiny_pipeline, shared_input):
    sv3d = tiny_pipeline("sv3d-u")
    frames = sv3d.image_to_orbit(Image.open(shared_input("test_image.png")), image_frame_ratio=0.9)
    assert len(frames) == 2 and frames[-1].size == (16, 16)
    with pytest.raises(SgmError, match="sv3d-p"):
        sv3d.image_to_orbit(Image.new("RGB", (16, 16)), elevations_deg=[10.0, 20.0])


def test_sv3d_p_follows_the_cameras(tiny_pipeline, shared_input):
    sv3d = wake_zero_layers(tiny_pipeline("sv3d-p"))
    image = Image.open(shared_input("test_image.png"))
    low = sv3d.image_to_orbit(image, elevations_deg=[0.0, 5.0], azimuths_deg=[90.0, 0.0])
    high = sv3d.image_to_orbit(image, elevations_deg=[60.0, 5.0], azimuths_deg=[90.0, 0.0])
    assert len(low) == 2 and low[0].tobytes() != high[0].tobytes()
    with pytest.raises(SgmError, match="elevations_deg"):
        sv3d.image_to_orbit(image, elevations_deg=[0.0, 5.0, 10.0])


@pytest.fixture(scope="module")
def sv4d2(tiny_pipeline):
    return tiny_pipeline("sv4d2")


def test_sv4d2_makes_one_video_per_view(sv4d2, shared_input):
    assert isinstance(sv4d2, VideoTo4DPipeline)
    steps = []
    views = sv4d2.video_to_4d(str(shared_input("bee.gif")), callback=lambda *a: steps.append(a))
    assert len(views) == 2 and all(len(v) == 3 and v[0].size == (16, 16) for v in views)
    assert {stage for stage, _, _ in steps} == {"sample", "decode"}


def test_sv4d2_input_errors(sv4d2, shared_input, tmp_path):
    with pytest.raises(SgmError, match="at least 3"):
        sv4d2.video_to_4d(str(shared_input("test_image.png")))
    with pytest.raises(SgmError, match="azimuths"):
        sv4d2.video_to_4d(str(shared_input("gear.gif")), azimuths_deg=[0, 90])
    with pytest.raises(SgmError):
        sv4d2.video_to_4d(str(tmp_path / "missing.mp4"))


def test_sv4d_samples_anchors_then_dense_windows_from_sv3d_views(tiny_pipeline, shared_input, monkeypatch):
    """SV4D on 3 frames, 2 per pass: the anchor pass (frames 1, 2) is conditioned on frame 0's SV3D views, then
    each window [t, t + 1] is sampled densely, backward from its later end and forward from its earlier one."""
    from sgm.video.io import frame_objects_on_white, load_frames

    sv3d = tiny_pipeline("sv3d-u", watermark=False)
    sv4d = tiny_pipeline("sv4d", reference_views=sv3d)
    orbits, passes = [], []
    image_to_orbit, conditioning = sv3d.image_to_orbit, sv4d._conditioning

    def spy_orbit(frame, **kwargs):
        orbits.append((frame, image_to_orbit(frame, **kwargs)))
        return orbits[-1][1]

    def spy_conditioning(grid, sampling_pass, generated_views, run):
        reference_views = grid[sampling_pass.reference_frame, 1:].clone()
        passes.append((sampling_pass.frames, sampling_pass.reference_frame, reference_views))
        return conditioning(grid, sampling_pass, generated_views, run)

    monkeypatch.setattr(sv3d, "image_to_orbit", spy_orbit)
    monkeypatch.setattr(sv4d, "_conditioning", spy_conditioning)
    video = str(shared_input("test_video1.mp4"))
    views = sv4d.video_to_4d(video, seed=1)

    assert len(views) == 8 and all(len(v) == 3 and v[0].size == (16, 16) for v in views)
    framed = frame_objects_on_white(load_frames(video, 3), 16, sv4d.sampling["image_frame_ratio"])
    (frame, orbit) = orbits[0]
    assert len(orbits) == 1 and len(orbit) == 21 and frame.tobytes() == framed[0].tobytes()
    assert [(frames, ref) for frames, ref, _ in passes] == [((1, 2), 0), ((0, 1), 0), ((1, 0), 1), ((1, 2), 1),
                                                           ((2, 1), 2)]  # fmt: skip
    # The anchors see the orbit's views 1, 4, 6, 8, 11, 13, 15, 18 (SV4D's picks after moving the input view first).
    picked = torch.stack([torch.from_numpy(np.array(orbit[i].convert("RGB"))) for i in (1, 4, 6, 8, 11, 13, 15, 18)])
    anchor_views = ((passes[0][2] + 1.0) * 127.5).round().permute(0, 2, 3, 1).to(torch.uint8)  # exact: x / 127.5 - 1
    assert torch.equal(anchor_views, picked)
