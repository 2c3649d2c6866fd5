"""The KL-autoencoder's latent: a diagonal Gaussian posterior (Kingma & Welling 2014)."""

import math

import torch

from sgm.autoencoders.regularizers.base import AbstractRegularizer


class DiagonalGaussianDistribution:
    """N(mean, diag(exp(logvar))) from encoder moments `[b, 2c, ...]` split along dim 1; logvar clamped to [-30, 20]."""

    def __init__(self, parameters: torch.Tensor, deterministic: bool = False):
        if parameters.shape[1] % 2:
            raise ValueError(
                f"expected moments with an even channel count (mean, logvar), got shape {tuple(parameters.shape)}"
            )
        self.parameters = parameters
        self.mean, self.logvar = torch.chunk(parameters, 2, dim=1)
        self.logvar = torch.clamp(self.logvar, -30.0, 20.0)
        self.deterministic = deterministic
        self.std = torch.exp(0.5 * self.logvar)
        self.var = torch.exp(self.logvar)
        if deterministic:
            self.var = self.std = torch.zeros_like(self.mean)

    def _sum_over_sample(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=list(range(1, x.ndim)))

    def sample(self) -> torch.Tensor:
        """mean + std * eps, eps ~ N(0, I) drawn on the CPU generator in fp32 (the reference's draws)."""
        noise = torch.randn(self.mean.shape).to(device=self.parameters.device, dtype=self.mean.dtype)
        return self.mean + self.std * noise

    def mode(self) -> torch.Tensor:
        return self.mean

    def kl(self, other: "DiagonalGaussianDistribution | None" = None) -> torch.Tensor:
        """KL(self || other) per sample, other = N(0, I) by default:
        0.5 * sum((mu1 - mu2)^2 / var2 + var1 / var2 - 1 - log var1 + log var2)."""
        if self.deterministic:
            return torch.zeros(1, device=self.mean.device, dtype=self.mean.dtype)
        if other is None:
            return 0.5 * self._sum_over_sample(self.mean.pow(2) + self.var - 1.0 - self.logvar)
        return 0.5 * self._sum_over_sample(
            (self.mean - other.mean).pow(2) / other.var + self.var / other.var - 1.0 - self.logvar + other.logvar
        )

    def nll(self, sample: torch.Tensor, dims: tuple[int, ...] = (1, 2, 3)) -> torch.Tensor:
        """-log N(sample; mean, var) summed over `dims`: 0.5 * sum(log 2pi + logvar + (x - mu)^2 / var)."""
        if self.deterministic:
            return torch.zeros(1, device=self.mean.device, dtype=self.mean.dtype)
        return 0.5 * torch.sum(
            math.log(2.0 * math.pi) + self.logvar + (sample - self.mean).pow(2) / self.var, dim=list(dims)
        )


class DiagonalGaussianRegularizer(AbstractRegularizer):
    """Moments -> a posterior sample (or its mean when `sample=False`); logs `kl_loss`, the batch-mean KL to N(0, I)."""

    def __init__(self, sample: bool = True):
        super().__init__()
        self.sample = sample

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, dict]:
        posterior = DiagonalGaussianDistribution(z)
        z = posterior.sample() if self.sample else posterior.mode()
        kl_loss = posterior.kl()
        return z, {"kl_loss": kl_loss.sum() / kl_loss.shape[0]}
