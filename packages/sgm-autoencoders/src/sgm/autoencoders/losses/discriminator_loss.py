"""The autoencoder's training loss: L1 + LPIPS reconstruction under a learned log-variance, regularizer terms and a
PatchGAN adversarial term with the adaptive weight of Esser et al. 2021 (eq. 7)."""

from collections.abc import Iterator, Mapping

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from sgm.autoencoders.losses.discriminator import hinge_d_loss, vanilla_d_loss, weights_init
from sgm.autoencoders.losses.lpips import LPIPS
from sgm.core.config import instantiate

DISC_LOSSES = {"hinge": hinge_d_loss, "vanilla": vanilla_d_loss}


class GeneralLPIPSWithDiscriminator(nn.Module):
    """Generator step (`optimizer_idx=0`): sum(|x - x'| + w_p LPIPS) / exp(logvar) + logvar, plus
    d_weight * disc_factor * (-E[D(x')]) and `regularization_weights[k] * regularization_log[k]`.
    Discriminator step (`optimizer_idx=1`): disc_factor * d_loss(D(x), D(x')). The GAN terms start at `disc_start`.

    `dims=3` takes videos `[b, c, t, h, w]` and scores every frame. `lpips_pretrained` / `lpips_weights_path` choose
    the LPIPS weights (see `sgm.autoencoders.losses.lpips`).
    """

    def __init__(
        self,
        disc_start: int,
        logvar_init: float = 0.0,
        disc_num_layers: int = 3,
        disc_in_channels: int = 3,
        disc_factor: float = 1.0,
        disc_weight: float = 1.0,
        perceptual_weight: float = 1.0,
        disc_loss: str = "hinge",
        scale_input_to_tgt_size: bool = False,
        dims: int = 2,
        learn_logvar: bool = False,
        regularization_weights: Mapping[str, float] | None = None,
        additional_log_keys: list[str] | None = None,
        discriminator_config: Mapping | None = None,
        lpips_pretrained: bool = True,
        lpips_weights_path: str | None = None,
    ):
        super().__init__()
        if disc_loss not in DISC_LOSSES:
            raise ValueError(f"disc_loss must be one of {', '.join(DISC_LOSSES)}, got {disc_loss!r}")
        self.dims = dims
        self.scale_input_to_tgt_size = scale_input_to_tgt_size
        self.perceptual_loss = LPIPS(pretrained=lpips_pretrained, weights_path=lpips_weights_path).eval()
        self.perceptual_weight = perceptual_weight
        self.logvar = nn.Parameter(torch.full((), float(logvar_init)), requires_grad=learn_logvar)
        self.learn_logvar = learn_logvar
        discriminator_config = discriminator_config or {
            "target": "sgm.autoencoders.losses.discriminator.NLayerDiscriminator",
            "params": {"input_nc": disc_in_channels, "n_layers": disc_num_layers, "use_actnorm": False},
        }
        self.discriminator = instantiate(discriminator_config, key_path="discriminator_config")
        self.discriminator.apply(weights_init)
        self.discriminator_iter_start = disc_start
        self.disc_loss = DISC_LOSSES[disc_loss]
        self.disc_factor = disc_factor
        self.discriminator_weight = disc_weight
        self.regularization_weights = dict(regularization_weights or {})
        self.forward_keys = ["optimizer_idx", "global_step", "last_layer", "split", "regularization_log"]
        self.additional_log_keys = set(additional_log_keys or []) | set(self.regularization_weights)

    def get_trainable_parameters(self) -> Iterator[nn.Parameter]:
        return self.discriminator.parameters()

    def get_trainable_autoencoder_parameters(self) -> Iterator[nn.Parameter]:
        if self.learn_logvar:
            yield self.logvar

    @torch.no_grad()
    def log_images(self, inputs: torch.Tensor, reconstructions: torch.Tensor) -> dict[str, torch.Tensor]:
        """The patch logits on real and reconstructed images, scaled to [-1, 1] and upsampled to the image size."""
        logits_real = self.discriminator(inputs.contiguous())
        if logits_real.ndim < 4:
            return {}
        logits_fake = self.discriminator(reconstructions.contiguous())
        high = torch.maximum(logits_real.abs().max(), logits_fake.abs().max()).clamp_min(1e-8)
        maps = {}
        for name, logits, images in (("real", logits_real, inputs), ("fake", logits_fake, reconstructions)):
            logits = F.interpolate(logits / high, size=images.shape[-2:], mode="nearest")
            maps[f"vis_logits_{name}"] = logits.expand(-1, 3, -1, -1)
        return maps

    def calculate_adaptive_weight(
        self, nll_loss: torch.Tensor, g_loss: torch.Tensor, last_layer: torch.Tensor
    ) -> torch.Tensor:
        """lambda = ||grad_L nll|| / (||grad_L g|| + 1e-4), clamped to [0, 1e4], times `disc_weight` (L: last layer)."""
        nll_grads = torch.autograd.grad(nll_loss, last_layer, retain_graph=True)[0]
        g_grads = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
        d_weight = torch.norm(nll_grads) / (torch.norm(g_grads) + 1e-4)
        return torch.clamp(d_weight, 0.0, 1e4).detach() * self.discriminator_weight

    def get_nll_loss(
        self, rec_loss: torch.Tensor, weights: float | torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Laplace-style NLL rec / exp(logvar) + logvar, summed per sample and averaged over the batch."""
        nll_loss = rec_loss / torch.exp(self.logvar) + self.logvar
        weighted = nll_loss if weights is None else weights * nll_loss
        return nll_loss.sum() / nll_loss.shape[0], weighted.sum() / weighted.shape[0]

    def forward(
        self,
        inputs: torch.Tensor,
        reconstructions: torch.Tensor,
        *,
        regularization_log: Mapping[str, torch.Tensor],
        optimizer_idx: int,
        global_step: int,
        last_layer: torch.Tensor,
        split: str = "train",
        weights: float | torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict]:
        if self.scale_input_to_tgt_size:
            inputs = F.interpolate(inputs, reconstructions.shape[2:], mode="bicubic", antialias=True)
        if self.dims > 2:
            inputs, reconstructions = (rearrange(x, "b c t h w -> (b t) c h w") for x in (inputs, reconstructions))
        gan_active = global_step >= self.discriminator_iter_start or not self.training
        zero = inputs.new_zeros(())

        if optimizer_idx == 0:
            rec_loss = torch.abs(inputs.contiguous() - reconstructions.contiguous())
            if self.perceptual_weight > 0:
                p_loss = self.perceptual_loss(inputs.contiguous(), reconstructions.contiguous())
                rec_loss = rec_loss + self.perceptual_weight * p_loss
            nll_loss, weighted_nll_loss = self.get_nll_loss(rec_loss, weights)
            if gan_active:
                g_loss = -torch.mean(self.discriminator(reconstructions.contiguous()))
                if self.training:
                    d_weight = self.calculate_adaptive_weight(nll_loss, g_loss, last_layer)
                else:
                    d_weight = torch.ones_like(zero)
            else:
                d_weight, g_loss = zero, zero.clone().requires_grad_(True)
            loss = weighted_nll_loss + d_weight * self.disc_factor * g_loss
            log = {}
            for key, value in regularization_log.items():
                if key in self.regularization_weights:
                    loss = loss + self.regularization_weights[key] * value
                if key in self.additional_log_keys:
                    log[f"{split}/{key}"] = value.detach().float().mean()
            log.update(
                {
                    f"{split}/loss/total": loss.detach().mean(),
                    f"{split}/loss/nll": nll_loss.detach().mean(),
                    f"{split}/loss/rec": rec_loss.detach().mean(),
                    f"{split}/loss/g": g_loss.detach().mean(),
                    f"{split}/scalars/logvar": self.logvar.detach(),
                    f"{split}/scalars/d_weight": d_weight.detach(),
                }
            )
            return loss, log

        if optimizer_idx == 1:
            logits_real = self.discriminator(inputs.contiguous().detach())
            logits_fake = self.discriminator(reconstructions.contiguous().detach())
            if gan_active:
                d_loss = self.disc_factor * self.disc_loss(logits_real, logits_fake)
            else:
                d_loss = zero.clone().requires_grad_(True)
            log = {
                f"{split}/loss/disc": d_loss.detach().mean(),
                f"{split}/logits/real": logits_real.detach().mean(),
                f"{split}/logits/fake": logits_fake.detach().mean(),
            }
            return d_loss, log
        raise ValueError(f"optimizer_idx must be 0 (autoencoder) or 1 (discriminator), got {optimizer_idx}")
