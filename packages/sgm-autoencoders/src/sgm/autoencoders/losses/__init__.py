"""Training losses of the autoencoders: LPIPS, the PatchGAN discriminator loss and the latent LPIPS loss."""

from sgm.autoencoders.losses.discriminator import NLayerDiscriminator, hinge_d_loss, vanilla_d_loss
from sgm.autoencoders.losses.discriminator_loss import GeneralLPIPSWithDiscriminator
from sgm.autoencoders.losses.latent_lpips import LatentLPIPS
from sgm.autoencoders.losses.lpips import LPIPS

__all__ = [
    "LPIPS",
    "GeneralLPIPSWithDiscriminator",
    "LatentLPIPS",
    "NLayerDiscriminator",
    "hinge_d_loss",
    "vanilla_d_loss",
]
