"""Latent regularizers: the KL (diagonal Gaussian) posterior and the vector quantizers."""

from sgm.autoencoders.regularizers.base import AbstractRegularizer, IdentityRegularizer, measure_perplexity
from sgm.autoencoders.regularizers.gaussian import DiagonalGaussianDistribution, DiagonalGaussianRegularizer
from sgm.autoencoders.regularizers.quantize import (
    AbstractQuantizer,
    EMAVectorQuantizer,
    GumbelQuantizer,
    VectorQuantizer,
)

__all__ = [
    "AbstractQuantizer",
    "AbstractRegularizer",
    "DiagonalGaussianDistribution",
    "DiagonalGaussianRegularizer",
    "EMAVectorQuantizer",
    "GumbelQuantizer",
    "IdentityRegularizer",
    "VectorQuantizer",
    "measure_perplexity",
]
