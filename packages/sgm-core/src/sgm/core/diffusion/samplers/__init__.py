"""Samplers: `sampler(denoiser, x, cond, uc=None, num_steps=None)` with the reference's constructors."""

from sgm.core.diffusion.samplers.ancestral import (
    AncestralSampler,
    DPM2AncestralSampler,
    DPMPP2SAncestralSampler,
    EulerAncestralSampler,
)
from sgm.core.diffusion.samplers.base import BaseDiffusionSampler, SingleStepDiffusionSampler
from sgm.core.diffusion.samplers.edm import DPM2Sampler, EDMSampler, EulerEDMSampler, HeunEDMSampler
from sgm.core.diffusion.samplers.multistep import DPMPP2MSampler, LinearMultistepSampler
from sgm.core.diffusion.samplers.sde import DPMPP2MSDESampler, DPMPP3MSDESampler, DPMPPMultistepSDESampler

__all__ = [
    "AncestralSampler",
    "BaseDiffusionSampler",
    "DPM2AncestralSampler",
    "DPM2Sampler",
    "DPMPP2MSDESampler",
    "DPMPP2MSampler",
    "DPMPP2SAncestralSampler",
    "DPMPP3MSDESampler",
    "DPMPPMultistepSDESampler",
    "EDMSampler",
    "EulerAncestralSampler",
    "EulerEDMSampler",
    "HeunEDMSampler",
    "LinearMultistepSampler",
    "SingleStepDiffusionSampler",
]
