"""What every latent regularizer is: `z -> (regularized z, log dict)`."""

import torch
import torch.nn.functional as F
from torch import nn


class AbstractRegularizer(nn.Module):
    """Maps the encoder output to the latent and a dict of losses / statistics to log."""

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError(f"{type(self).__name__} must implement forward(z) -> (z, log)")

    def get_trainable_parameters(self):
        """Parameters the autoencoder's optimizer should train (none by default)."""
        yield from ()


class IdentityRegularizer(AbstractRegularizer):
    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, dict]:
        return z, {}


def measure_perplexity(indices: torch.Tensor, num_codes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Codebook perplexity exp(H(p)) of the code histogram p (num_codes when all codes are used equally),
    and the number of codes used."""
    probs = F.one_hot(indices.reshape(-1), num_codes).float().mean(0)
    perplexity = torch.exp(-(probs * torch.log(probs + 1e-10)).sum())
    return perplexity, (probs > 0).sum()
