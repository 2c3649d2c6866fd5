"""A latent-space loss with an LPIPS term on decoded images (used to train latent-to-latent models)."""

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from sgm.autoencoders.losses.lpips import LPIPS
from sgm.core.config import instantiate


class LatentLPIPS(nn.Module):
    """latent_weight * ||z - z'||^2 + perceptual_weight * LPIPS(D(z), D(z'))
    (+ perceptual_weight_on_inputs * LPIPS(x, D(z'))), D the decoder of `decoder_config` (its encoder is dropped)."""

    def __init__(
        self,
        decoder_config: Mapping,
        perceptual_weight: float = 1.0,
        latent_weight: float = 1.0,
        scale_input_to_tgt_size: bool = False,
        scale_tgt_to_input_size: bool = False,
        perceptual_weight_on_inputs: float = 0.0,
        lpips_pretrained: bool = True,
        lpips_weights_path: str | None = None,
    ):
        super().__init__()
        self.scale_input_to_tgt_size = scale_input_to_tgt_size
        self.scale_tgt_to_input_size = scale_tgt_to_input_size
        self.init_decoder(decoder_config)
        self.perceptual_loss = LPIPS(pretrained=lpips_pretrained, weights_path=lpips_weights_path).eval()
        self.perceptual_weight = perceptual_weight
        self.latent_weight = latent_weight
        self.perceptual_weight_on_inputs = perceptual_weight_on_inputs

    def init_decoder(self, config: Mapping) -> None:
        self.decoder = instantiate(config, key_path="decoder_config")
        if hasattr(self.decoder, "encoder"):
            del self.decoder.encoder

    def forward(
        self,
        latent_inputs: torch.Tensor,
        latent_predictions: torch.Tensor,
        image_inputs: torch.Tensor,
        split: str = "train",
    ) -> tuple[torch.Tensor, dict]:
        log = {}
        loss = (latent_inputs - latent_predictions) ** 2
        log[f"{split}/latent_l2_loss"] = loss.mean().detach()
        reconstructions = None
        if self.perceptual_weight > 0.0:
            reconstructions = self.decoder.decode(latent_predictions)
            targets = self.decoder.decode(latent_inputs)
            perceptual = self.perceptual_loss(targets.contiguous(), reconstructions.contiguous())
            loss = self.latent_weight * loss.mean() + self.perceptual_weight * perceptual.mean()
            log[f"{split}/perceptual_loss"] = perceptual.mean().detach()
        if self.perceptual_weight_on_inputs > 0.0:
            if reconstructions is None:
                reconstructions = self.decoder.decode(latent_predictions)
            if self.scale_input_to_tgt_size:
                image_inputs = F.interpolate(image_inputs, reconstructions.shape[2:], mode="bicubic", antialias=True)
            elif self.scale_tgt_to_input_size:
                reconstructions = F.interpolate(reconstructions, image_inputs.shape[2:], mode="bicubic", antialias=True)
            perceptual_on_inputs = self.perceptual_loss(image_inputs.contiguous(), reconstructions.contiguous())
            loss = loss + self.perceptual_weight_on_inputs * perceptual_on_inputs.mean()
            log[f"{split}/perceptual_loss_on_inputs"] = perceptual_on_inputs.mean().detach()
        return loss, log
