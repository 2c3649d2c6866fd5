"""VideoPredictionEmbedderWithEncoder: noise augmentation draw order, sigma conditioning, copies, chunking."""

import pytest
import torch
from sgm.conditioners.video import VideoPredictionEmbedderWithEncoder
from sgm.core.config import instantiate
from sgm.core.nn.timestep import timestep_embedding

EDM_SAMPLING = {
    "target": "sgm.modules.diffusionmodules.sigma_sampling.EDMSampling",
    "params": {"p_mean": -3.0, "p_std": 0.5},
}
SIGMA_COND = {"target": "sgm.modules.encoders.modules.ConcatTimestepEmbedderND", "params": {"outdim": 8}}
CONV = {"target": "torch.nn.Conv2d", "params": {"in_channels": 3, "out_channels": 4, "kernel_size": 2, "stride": 2}}


def test_one_frame_is_noised_encoded_scaled_and_copied():
    torch.manual_seed(0)
    embedder = VideoPredictionEmbedderWithEncoder(
        n_cond_frames=1,
        n_copies=3,
        encoder_config=CONV,
        sigma_sampler_config=EDM_SAMPLING,
        sigma_cond_config=SIGMA_COND,
        scale_factor=0.5,
    )
    frames = torch.randn(2, 3, 8, 8)
    torch.manual_seed(1)
    latents, sigma_cond = embedder(frames)
    torch.manual_seed(1)
    sigmas = instantiate(EDM_SAMPLING)(2)  # drawn first, then the noise
    noise = torch.randn_like(frames)
    with torch.no_grad():
        expected = embedder.encoder(frames + noise * sigmas[:, None, None, None]) * 0.5
    assert latents.shape == (6, 4, 4, 4)
    torch.testing.assert_close(latents, expected.repeat_interleave(3, dim=0))
    torch.testing.assert_close(sigma_cond, timestep_embedding(sigmas, 8).repeat_interleave(3, dim=0))


def test_several_frames_share_their_sample_sigma():
    embedder = VideoPredictionEmbedderWithEncoder(
        n_cond_frames=2,
        n_copies=5,
        encoder_config={"target": "torch.nn.Identity"},
        sigma_sampler_config=EDM_SAMPLING,
        sigma_cond_config=SIGMA_COND,
    )
    frames = torch.zeros(4, 1, 2, 2)
    noisy, sigma_cond = embedder(frames)
    assert noisy.shape == (4, 1, 2, 2) and sigma_cond.shape == (4, 8)  # one row per conditioning frame (SV4D)
    torch.testing.assert_close(sigma_cond[0], sigma_cond[1])


def test_without_sampler_frames_are_encoded_in_chunks():
    embedder = VideoPredictionEmbedderWithEncoder(
        n_cond_frames=1, n_copies=2, encoder_config=CONV, en_and_decode_n_samples_a_time=2
    )
    frames = torch.randn(5, 3, 4, 4)
    with torch.no_grad():
        out = embedder(frames)
        torch.testing.assert_close(out, embedder.encoder(frames).repeat_interleave(2, dim=0))


def test_fp64_frames_stay_fp64():
    embedder = VideoPredictionEmbedderWithEncoder(
        n_cond_frames=1, n_copies=1, encoder_config={"target": "torch.nn.Identity"}, sigma_sampler_config=EDM_SAMPLING
    )
    assert embedder(torch.zeros(2, 3, 4, 4, dtype=torch.float64)).dtype == torch.float64


def test_autoencoder_through_config_encodes_to_the_posterior_mean():
    pytest.importorskip("sgm.autoencoders")
    encoder_config = {
        "target": "sgm.models.autoencoder.AutoencoderKLModeOnly",
        "params": {
            "embed_dim": 4,
            "lossconfig": {"target": "torch.nn.Identity"},
            "ddconfig": {
                "attn_type": "vanilla",
                "double_z": True,
                "z_channels": 4,
                "resolution": 16,
                "in_channels": 3,
                "out_ch": 3,
                "ch": 32,
                "ch_mult": [1, 2],
                "num_res_blocks": 1,
                "attn_resolutions": [],
                "dropout": 0.0,
            },
        },
    }
    embedder = VideoPredictionEmbedderWithEncoder(
        n_cond_frames=1, n_copies=2, encoder_config=encoder_config, is_ae=True, disable_encoder_autocast=True
    )
    frames = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        out = embedder(frames)
        first = embedder.encoder.encode(frames)
    assert out.shape == (2, 4, 8, 8)
    torch.testing.assert_close(out, first.expand(2, -1, -1, -1))
    assert set(embedder.state_dict()) == {f"encoder.{key}" for key in embedder.encoder.state_dict()}


def test_bad_configs_and_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="sigma_sampler_config"):
        VideoPredictionEmbedderWithEncoder(1, 1, {"target": "torch.nn.Identity"}, sigma_cond_config=SIGMA_COND)
    embedder = VideoPredictionEmbedderWithEncoder(2, 1, {"target": "torch.nn.Identity"})
    with pytest.raises(ValueError, match="n_cond_frames"):
        embedder(torch.zeros(3, 1, 2, 2))
