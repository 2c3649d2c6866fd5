"""The PatchGAN discriminator (Isola et al. 2017) and the discriminator losses of the autoencoder GAN training."""

import torch
import torch.nn.functional as F
from torch import nn


def hinge_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """0.5 * (E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]) (Lim & Ye 2017)."""
    return 0.5 * (torch.mean(F.relu(1.0 - logits_real)) + torch.mean(F.relu(1.0 + logits_fake)))


def vanilla_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """0.5 * (E[softplus(-D(x))] + E[softplus(D(G(z)))]), the non-saturating GAN loss (Goodfellow et al. 2014)."""
    return 0.5 * (torch.mean(F.softplus(-logits_real)) + torch.mean(F.softplus(logits_fake)))


def weights_init(module: nn.Module) -> None:
    """DCGAN initialisation (Radford et al. 2016): conv weights ~ N(0, 0.02), batch-norm scales ~ N(1, 0.02)."""
    name = type(module).__name__
    if "Conv" in name:
        nn.init.normal_(module.weight.data, 0.0, 0.02)
    elif "BatchNorm" in name:
        nn.init.normal_(module.weight.data, 1.0, 0.02)
        nn.init.constant_(module.bias.data, 0)


class ActNorm(nn.Module):
    """Per-channel affine normalisation initialised from the first training batch (Kingma & Dhariwal 2018)."""

    def __init__(self, num_features: int):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(1, num_features, 1, 1))
        self.scale = nn.Parameter(torch.ones(1, num_features, 1, 1))
        self.register_buffer("initialized", torch.tensor(0, dtype=torch.uint8))

    @torch.no_grad()
    def _initialize(self, x: torch.Tensor) -> None:
        flat = x.transpose(0, 1).reshape(x.shape[1], -1)
        self.loc.copy_(-flat.mean(1).view(1, -1, 1, 1))
        self.scale.copy_(1 / (flat.std(1).view(1, -1, 1, 1) + 1e-6))
        self.initialized.fill_(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.initialized.item() == 0:
            self._initialize(x)
        return self.scale * (x + self.loc)


class NLayerDiscriminator(nn.Module):
    """PatchGAN: `n_layers` stride-2 4x4 convs (widths ndf * min(2^n, 8)), a stride-1 conv, then a logit per patch."""

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3, use_actnorm: bool = False):
        super().__init__()
        norm_layer = ActNorm if use_actnorm else nn.BatchNorm2d
        use_bias = use_actnorm  # batch norm has its own shift
        kernel, padding = 4, 1
        sequence = [nn.Conv2d(input_nc, ndf, kernel_size=kernel, stride=2, padding=padding), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            previous, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            sequence += [
                nn.Conv2d(
                    ndf * previous, ndf * mult, kernel_size=kernel, stride=stride, padding=padding, bias=use_bias
                ),
                norm_layer(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        sequence.append(nn.Conv2d(ndf * mult, 1, kernel_size=kernel, stride=1, padding=padding))
        self.main = nn.Sequential(*sequence)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)
