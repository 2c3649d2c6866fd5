"""Same seed, same video: the video pipelines draw their random numbers in the order of the reference's scripts
(`scripts/sampling/simple_video_sample.py`, `simple_video_sample_4d2.py`), from tensors with the reference's layout,
and convert frames to uint8 as those scripts do. Each draw is checked against the generator's own sequence."""

import numpy as np
import pytest
import torch
from PIL import Image

from sgm.pipelines import build_pipeline
from sgm.pipelines.outputs import finished_images
from sgm.pipelines.video import VideoPipeline, pixels


@pytest.fixture
def recorded(monkeypatch):
    """Per sampling pass: the generator state right after conditioning, the conditioning batch, and the sampler's
    starting noise."""
    record = {"states": [], "batches": [], "starts": []}
    conditionings, sampler = VideoPipeline.conditionings, VideoPipeline.sampler

    def spy_conditionings(self, batch, batch_uc, force_zero):
        out = conditionings(self, batch, batch_uc, force_zero)
        record["batches"].append(batch)
        record["states"].append(torch.get_rng_state())
        return out

    def spy_sampler(self, *args, **kwargs):
        built = sampler(self, *args, **kwargs)

        def run(denoise, x, cond, uc):
            record["starts"].append(x.clone())
            return built(denoise, x, cond=cond, uc=uc)

        return run

    monkeypatch.setattr(VideoPipeline, "conditionings", spy_conditionings)
    monkeypatch.setattr(VideoPipeline, "sampler", spy_sampler)
    return record


def test_svd_draws_the_conditioning_noise_then_the_start(tiny_config, recorded):
    """SVD: seed -> `randn_like` of the contiguous conditioning image (cond_aug noise) -> conditioner -> `randn` of
    the latent shape (the start)."""
    svd = build_pipeline(tiny_config("svd"), name="svd", device="cpu")
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (16, 32, 3), dtype=np.uint8))
    svd.image_to_video(image, seed=5, cond_aug=0.5)
    torch.manual_seed(5)
    frame = pixels([image], torch.device("cpu"))
    assert frame.is_contiguous()
    expected_cond = frame + 0.5 * torch.randn_like(frame)
    (batch,) = recorded["batches"]
    assert torch.equal(batch["cond_frames"], expected_cond)
    assert torch.equal(batch["cond_frames_without_noise"], frame)
    torch.set_rng_state(recorded["states"][0])
    (start,) = recorded["starts"]
    assert torch.equal(start, torch.randn(start.shape))


def test_a_channels_last_view_would_draw_other_numbers():
    """Why `pixels` makes its tensor contiguous: `randn_like` of a channels-last view fills it in another order."""
    image = torch.rand(1, 3, 4, 6)
    view = image.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)  # what a permuted HWC array gives
    torch.manual_seed(0)
    from_contiguous = torch.randn_like(image)
    torch.manual_seed(0)
    from_view = torch.randn_like(view)
    assert not torch.equal(from_contiguous, from_view)


def test_sv3d_p_cameras_enter_in_float32_for_an_fp32_model(tiny_config, recorded):
    """SV3D_p: the camera angles reach the embedders as float32, as the reference's fp32 run computes them (NumPy's
    float64 angles are not carried into the model); the start is drawn right after conditioning."""
    sv3d = build_pipeline(tiny_config("sv3d-p"), name="sv3d-p", device="cpu")
    sv3d.image_to_orbit(Image.new("RGB", (32, 32), "red"), elevations_deg=[5.0, 10.0], azimuths_deg=[90.0, 0.0],
                        seed=3)  # fmt: skip
    (batch,) = recorded["batches"]
    assert batch["polars_rad"].dtype == batch["azimuths_rad"].dtype == batch["cond_aug"].dtype == torch.float32
    torch.set_rng_state(recorded["states"][0])
    assert torch.equal(recorded["starts"][0], torch.randn(recorded["starts"][0].shape))


def test_sv3d_p_keeps_float64_in_an_fp64_run(tiny_config, recorded):
    sv3d = build_pipeline(tiny_config("sv3d-p"), name="sv3d-p", device="cpu")
    sv3d.engine.double()
    sv3d.image_to_orbit(Image.new("RGB", (32, 32), "red"), elevations_deg=[5.0, 10.0], azimuths_deg=[90.0, 0.0],
                        seed=3)  # fmt: skip
    assert recorded["batches"][0]["polars_rad"].dtype == torch.float64


def test_sv4d2_draws_each_passs_start_after_its_conditioning(tiny_config, recorded, shared_input):
    """SV4D 2.0: seed, then per autoregressive pass (in order) its conditioning and `randn` of its latents."""
    sv4d2 = build_pipeline(tiny_config("sv4d2"), name="sv4d2", device="cpu")
    sv4d2.video_to_4d(str(shared_input("bee.gif")), seed=2)
    assert len(recorded["starts"]) == len(recorded["states"]) == 2  # 3 frames, 2 per pass
    for state, start in zip(recorded["states"], recorded["starts"], strict=True):
        torch.set_rng_state(state)
        assert torch.equal(start, torch.randn(start.shape))


def test_uint8_frames_truncate_as_the_reference_scripts():
    """`(255 x).astype(uint8)` of float32 samples, as the scripts write frames: edge values on 0.5/255 steps and 1."""
    values = torch.tensor([0.0, 0.5, 0.999, 1.0, 1.5, 127.5, 128.0, 254.5, 254.999, 255.0]) / 255
    values = torch.cat([values, torch.tensor([1.0, 0.5])])
    samples = values.view(1, 1, 1, -1).expand(1, 3, 1, -1).contiguous()
    (image,) = finished_images(samples, watermark=False)
    reference = (samples[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    assert np.array_equal(np.asarray(image), reference)
    assert np.asarray(image)[0, :, 0].tolist() == [0, 0, 0, 1, 1, 127, 128, 254, 254, 255, 255, 127]
