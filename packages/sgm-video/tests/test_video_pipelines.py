"""Pipelines end to end on tiny random-weight engines on CPU, on the shared inputs.

sgm-conditioners has no embedders yet, so a stand-in conditioner (the reference's `get_unconditional_conditioning`
contract: the cond / uncond dicts of crossattn, concat, vector and SV4D's view / motion latents) feeds the real
network, denoiser, sampler, guider and decoder.
"""

import pytest
import torch
import torch.nn as nn
from PIL import Image

from sgm.core.config import instantiate
from sgm.core.errors import SgmError
from sgm.video.errors import VideoInputError
from sgm.video.pipelines import ImageToVideoPipeline, VideoTo4DPipeline

DDCONFIG = dict(attn_type="vanilla", double_z=True, z_channels=4, resolution=16, in_channels=3, out_ch=3, ch=32,
                ch_mult=[1, 2], num_res_blocks=1, attn_resolutions=[], dropout=0.0)  # fmt: skip
NETWORK = dict(in_channels=8, out_channels=4, model_channels=32, attention_resolutions=[1], num_res_blocks=1,
               channel_mult=[1], num_head_channels=16, use_linear_in_transformer=True, context_dim=32,
               num_classes="sequential", extra_ff_mix_layer=True, use_spatial_context=True)  # fmt: skip


class _Embedder(nn.Module):
    def __init__(self, key: str):
        super().__init__()
        self.input_key = key


class StandInConditioner(nn.Module):
    """Deterministic embeddings of the batch with the shapes the reference's conditioners produce."""

    def __init__(self, keys: list[str], vector_dim: int):
        super().__init__()
        self.embedders = nn.ModuleList(_Embedder(k) for k in keys)
        self.vector_dim = vector_dim

    def _embed(self, batch: dict, zero: set) -> dict:
        image = batch["cond_frames_without_noise"] * (0 if "cond_frames_without_noise" in zero else 1)
        latent = lambda x: nn.functional.avg_pool2d(x, 2).repeat(1, 2, 1, 1)[:, :4]  # noqa: E731
        count = batch["num_video_frames"]
        out = {
            "crossattn": image.mean(dim=(2, 3)).repeat(1, 11)[None, :, :32],
            "concat": latent(batch["cond_frames"] * (0 if "cond_frames" in zero else 1)),
            "vector": torch.linspace(0, 1, self.vector_dim).repeat(count, 1),
        }
        if "cond_view" in batch:
            out["crossattn"] = out["crossattn"][0][:, None].transpose(0, 1)  # [1, T, 32]
            out["cond_view"] = latent(batch["cond_view"]) * (0 if "cond_view" in zero else 1)
            out["cond_motion"] = latent(batch["cond_motion"])
        else:
            out["crossattn"] = out["crossattn"][:, :1]
        return out

    def get_unconditional_conditioning(self, batch, batch_uc=None, force_uc_zero_embeddings=()):
        return self._embed(batch, set()), self._embed(batch, set(force_uc_zero_embeddings))


def tiny_engine(network_target: str, network: dict, keys: list[str], vector_dim: int):
    torch.manual_seed(0)
    engine = instantiate({"target": "sgm.core.engine.DiffusionEngine", "params": dict(
        network_config={"target": network_target, "params": network},
        denoiser_config={"target": "sgm.core.diffusion.denoiser.Denoiser", "params": {
            "scaling_config": {"target": "sgm.core.diffusion.scaling.VScalingWithEDMcNoise"}}},
        first_stage_config={"target": "sgm.autoencoders.engine.AutoencodingEngine", "params": dict(
            loss_config={"target": "torch.nn.Identity"},
            regularizer_config={"target": "sgm.autoencoders.regularizers.gaussian.DiagonalGaussianRegularizer"},
            encoder_config={"target": "torch.nn.Identity"},
            decoder_config={"target": "sgm.autoencoders.model.Decoder", "params": DDCONFIG})},
        scale_factor=0.18215)})  # fmt: skip
    engine.conditioner = StandInConditioner(keys, vector_dim)
    return engine


def sampler_config(guider: str, frames: int, **guider_params) -> dict:
    return {"target": "sgm.core.diffusion.samplers.EulerEDMSampler", "params": {
        "num_steps": 1,
        "discretization_config": {"target": "sgm.core.diffusion.discretization.EDMDiscretization"},
        "guider_config": {"target": f"sgm.core.diffusion.guiders.{guider}",
                          "params": {"max_scale": 2.5, "num_frames": frames, **guider_params}}}}  # fmt: skip


@pytest.fixture(scope="module")
def svd():
    keys = ["cond_frames_without_noise", "fps_id", "motion_bucket_id", "cond_frames", "cond_aug"]
    engine = tiny_engine("sgm.video.unet.VideoUNet", dict(NETWORK, adm_in_channels=24), keys, 24)
    sampling = dict(pipeline="image_to_video", num_frames=2, num_steps=1, fps=7, motion_bucket_id=127,
                    cond_aug=0.02, decoding_t=2, height=16, width=32, image_frame_ratio=None)  # fmt: skip
    return ImageToVideoPipeline(engine, sampler_config("LinearPredictionGuider", 2), sampling, progress=False)


def test_svd_image_to_video_is_seeded(svd, shared_input):
    image = Image.open(shared_input("test_image.png"))
    frames = svd.image_to_video(image, seed=5)
    assert len(frames) == 2 and frames[0].size == (32, 16)
    again = svd.image_to_video(image, seed=5)
    assert [f.tobytes() for f in frames] == [f.tobytes() for f in again]


def test_orbit_ends_with_the_input_view(svd, shared_input):
    svd.sampling.update(pipeline="orbit", height=16)
    frames = svd.image_to_orbit(Image.open(shared_input("test_image.png")), image_frame_ratio=0.9)
    assert len(frames) == 2 and frames[-1].size == (16, 16)
    with pytest.raises(VideoInputError, match="sv3d-p"):
        svd.image_to_orbit(Image.new("RGB", (16, 16)), elevations_deg=[10.0, 20.0])


def test_bad_numbers_are_clear_errors(svd):
    image = Image.new("RGB", (32, 16))
    with pytest.raises(SgmError, match="steps"):
        svd.image_to_video(image, steps=0)
    with pytest.raises(SgmError, match="motion_bucket_id"):
        svd.image_to_video(image, motion_bucket_id=5000)


@pytest.fixture(scope="module")
def sv4d2():
    keys = ["cond_frames_without_noise", "cond_frames", "polar_rad", "azimuth_rad", "cond_view", "cond_motion"]
    network = dict(NETWORK, adm_in_channels=128, motion_context_dim=4, use_spatial_transformer=True,
                   use_motion_attention=True, time_mix_legacy=False, use_camera_emb=True, use_3d_attention=True,
                   separate_motion_merge_factor=True, time_block_merge_strategy="learned_with_images",
                   time_kernel_size=[3, 1, 1], spatial_transformer_attn_type="softmax")  # fmt: skip
    network.pop("extra_ff_mix_layer")
    engine = tiny_engine("sgm.video.sv4d_unet.SpatialUNetModelWithTime", network, keys, 128)
    sampling = dict(pipeline="video_to_4d", schedule="autoregressive", n_frames=3, frames_per_pass=2, views=2,
                    num_steps=1, img_size=16, encoding_t=2, decoding_t=4, elevations_deg=0.0,
                    azimuths_deg=[0, 120, 240], image_frame_ratio=0.9, relative_polar=True)  # fmt: skip
    guider = sampler_config("SpatiotemporalPredictionGuider", 4, num_views=2, additional_cond_keys=["cond_view"])
    return VideoTo4DPipeline(engine, guider, sampling, progress=False)


def test_sv4d2_makes_one_video_per_view(sv4d2, shared_input):
    steps = []
    views = sv4d2.video_to_4d(str(shared_input("bee.gif")), callback=lambda *a: steps.append(a))
    assert len(views) == 2 and all(len(v) == 3 and v[0].size == (16, 16) for v in views)
    assert {stage for stage, _, _ in steps} == {"sample", "decode"}


def test_sv4d2_input_errors(sv4d2, shared_input, tmp_path):
    with pytest.raises(VideoInputError, match="at least 3"):
        sv4d2.video_to_4d(str(shared_input("test_image.png")))
    with pytest.raises(VideoInputError, match="azimuths"):
        sv4d2.video_to_4d(str(shared_input("gear.gif")), azimuths_deg=[0, 90])
    with pytest.raises(VideoInputError):
        sv4d2.video_to_4d(str(tmp_path / "missing.mp4"))
