"""VideoPredictionEmbedderWithEncoder: VAE latents of noise-augmented conditioning frames (SVD's `cond_frames`)."""

import math
from collections.abc import Mapping

import torch
from einops import repeat
from sgm.conditioners.autocast import reference_autocast
from sgm.conditioners.general import AbstractEmbModel
from sgm.core.config import instantiate
from sgm.core.diffusion.tensor_shapes import append_dims


class VideoPredictionEmbedderWithEncoder(AbstractEmbModel):
    """Encodes conditioning frames `[batch * n_cond_frames, C, H, W]` with `encoder` (a first stage, `is_ae=True`:
    its `encode`), times `scale_factor`.

    With a `sigma_sampler_config`, each sample's frames first get Gaussian noise of a drawn sigma (noise
    augmentation, Blattmann et al. 2023, SVD section 4); with a `sigma_cond_config` the embedded sigma is returned
    too. One conditioning frame is repeated `n_copies` times: `[batch * n_copies, C, h, w]`.
    `en_and_decode_n_samples_a_time` encodes in chunks of that many frames.
    """

    def __init__(
        self,
        n_cond_frames: int,
        n_copies: int,
        encoder_config: Mapping,
        sigma_sampler_config: Mapping | None = None,
        sigma_cond_config: Mapping | None = None,
        is_ae: bool = False,
        scale_factor: float = 1.0,
        disable_encoder_autocast: bool = False,
        en_and_decode_n_samples_a_time: int | None = None,
    ):
        super().__init__()
        if sigma_cond_config is not None and sigma_sampler_config is None:
            raise ValueError("sigma_cond_config needs a sigma_sampler_config (the sigma it embeds is drawn by it)")
        self.n_cond_frames = n_cond_frames
        self.n_copies = n_copies
        self.encoder = instantiate(encoder_config, key_path="encoder_config")
        self.sigma_sampler = instantiate(sigma_sampler_config, key_path="sigma_sampler_config")
        self.sigma_cond = instantiate(sigma_cond_config, key_path="sigma_cond_config")
        self.is_ae = is_ae
        self.scale_factor = scale_factor
        self.disable_encoder_autocast = disable_encoder_autocast
        self.en_and_decode_n_samples_a_time = en_and_decode_n_samples_a_time

    def forward(self, vid: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if vid.shape[0] % self.n_cond_frames:
            raise ValueError(f"{vid.shape[0]} frames is not a multiple of n_cond_frames={self.n_cond_frames}")
        sigma_cond = None
        if self.sigma_sampler is not None:
            b = vid.shape[0] // self.n_cond_frames
            sigmas = self.sigma_sampler(b).to(vid.device)
            if self.sigma_cond is not None:
                sigma_cond = self.sigma_cond(sigmas)
                # one frame: one copy per generated frame; several (SV4D): one per conditioning frame
                copies = self.n_copies if self.n_cond_frames == 1 else self.n_cond_frames
                sigma_cond = repeat(sigma_cond, "b d -> (b t) d", t=copies)
            sigmas = repeat(sigmas, "b -> (b t)", t=self.n_cond_frames)
            noise = torch.randn_like(vid)
            vid = vid + noise * append_dims(sigmas, vid.ndim).to(vid.dtype)

        with reference_autocast(vid.device, enabled=not self.disable_encoder_autocast):
            chunk = self.en_and_decode_n_samples_a_time or vid.shape[0]
            encode = self.encoder.encode if self.is_ae else self.encoder
            latents = [encode(vid[i * chunk : (i + 1) * chunk]) for i in range(math.ceil(vid.shape[0] / chunk))]
        vid = torch.cat(latents, dim=0) * self.scale_factor

        if self.n_cond_frames == 1:
            vid = repeat(vid, "b c h w -> (b t) c h w", t=self.n_copies)
        return (vid, sigma_cond) if self.sigma_cond is not None else vid
