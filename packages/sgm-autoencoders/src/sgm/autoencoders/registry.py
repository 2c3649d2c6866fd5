"""The reference names of the autoencoders and their losses, and the modules configs may build from (read through the `sgm.config`
entry point by sgm.core.config.registry)."""

REFERENCE_TARGETS: dict[str, str] = {
    "sgm.models.autoencoder.AutoencodingEngine": "sgm.autoencoders.engine.AutoencodingEngine",
    "sgm.models.autoencoder.AutoencodingEngineLegacy": "sgm.autoencoders.engine.AutoencodingEngineLegacy",
    "sgm.models.autoencoder.AutoencoderKL": "sgm.autoencoders.engine.AutoencoderKL",
    "sgm.models.autoencoder.AutoencoderKLModeOnly": "sgm.autoencoders.engine.AutoencoderKLModeOnly",
    "sgm.models.autoencoder.AutoencoderLegacyVQ": "sgm.autoencoders.engine.AutoencoderLegacyVQ",
    "sgm.models.autoencoder.IdentityFirstStage": "sgm.autoencoders.engine.IdentityFirstStage",
    "sgm.modules.diffusionmodules.model.Encoder": "sgm.autoencoders.model.Encoder",
    "sgm.modules.diffusionmodules.model.Decoder": "sgm.autoencoders.model.Decoder",
    "sgm.modules.autoencoding.temporal_ae.VideoDecoder": "sgm.autoencoders.temporal.VideoDecoder",
    "sgm.modules.autoencoding.regularizers.DiagonalGaussianRegularizer": "sgm.autoencoders.regularizers.gaussian.DiagonalGaussianRegularizer",
    "sgm.modules.autoencoding.regularizers.quantize.VectorQuantizer": "sgm.autoencoders.regularizers.quantize.VectorQuantizer",
    "sgm.modules.autoencoding.regularizers.quantize.EMAVectorQuantizer": "sgm.autoencoders.regularizers.quantize.EMAVectorQuantizer",
    "sgm.modules.autoencoding.regularizers.quantize.GumbelQuantizer": "sgm.autoencoders.regularizers.quantize.GumbelQuantizer",
    "sgm.modules.autoencoding.losses.GeneralLPIPSWithDiscriminator": "sgm.autoencoders.losses.discriminator_loss.GeneralLPIPSWithDiscriminator",
    "sgm.modules.autoencoding.losses.LatentLPIPS": "sgm.autoencoders.losses.latent_lpips.LatentLPIPS",
    "sgm.modules.autoencoding.lpips.model.model.NLayerDiscriminator": "sgm.autoencoders.losses.discriminator.NLayerDiscriminator",
    "sgm.modules.autoencoding.lpips.loss.lpips.LPIPS": "sgm.autoencoders.losses.lpips.LPIPS",
}

CONFIG_MODULES: tuple[str, ...] = (
    "sgm.autoencoders",
)
