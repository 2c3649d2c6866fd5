"""Where each `target` of the reference's YAML configs lives here.

Strings only: nothing is imported until a config asks for it, so sgm.core needs none of the packages named here.
Keys are the reference's dotted paths (Stability-AI/generative-models, commit 0ad7de9, and the few names outside
`sgm` that its training configs use); values are ours.
"""

_CORE = "sgm.core"
_DIFFUSION = "sgm.core.diffusion"
_COND = "sgm.conditioners"
_AE = "sgm.autoencoders"
_VIDEO = "sgm.video"
_TRAIN = "sgm.train"

REFERENCE_TARGETS: dict[str, str] = {
    # Diffusion math (sgm-core)
    "sgm.modules.diffusionmodules.discretizer.LegacyDDPMDiscretization": f"{_DIFFUSION}.discretization.LegacyDDPMDiscretization",
    "sgm.modules.diffusionmodules.discretizer.EDMDiscretization": f"{_DIFFUSION}.discretization.EDMDiscretization",
    "sgm.modules.diffusionmodules.denoiser.Denoiser": f"{_DIFFUSION}.denoiser.Denoiser",
    "sgm.modules.diffusionmodules.denoiser.DiscreteDenoiser": f"{_DIFFUSION}.denoiser.DiscreteDenoiser",
    "sgm.modules.diffusionmodules.denoiser_scaling.EDMScaling": f"{_DIFFUSION}.scaling.EDMScaling",
    "sgm.modules.diffusionmodules.denoiser_scaling.EpsScaling": f"{_DIFFUSION}.scaling.EpsScaling",
    "sgm.modules.diffusionmodules.denoiser_scaling.VScaling": f"{_DIFFUSION}.scaling.VScaling",
    "sgm.modules.diffusionmodules.denoiser_scaling.VScalingWithEDMcNoise": f"{_DIFFUSION}.scaling.VScalingWithEDMcNoise",
    "sgm.modules.diffusionmodules.denoiser_weighting.UnitWeighting": f"{_DIFFUSION}.weighting.UnitWeighting",
    "sgm.modules.diffusionmodules.denoiser_weighting.EDMWeighting": f"{_DIFFUSION}.weighting.EDMWeighting",
    "sgm.modules.diffusionmodules.denoiser_weighting.VWeighting": f"{_DIFFUSION}.weighting.VWeighting",
    "sgm.modules.diffusionmodules.denoiser_weighting.EpsWeighting": f"{_DIFFUSION}.weighting.EpsWeighting",
    "sgm.modules.diffusionmodules.loss_weighting.UnitWeighting": f"{_DIFFUSION}.weighting.UnitWeighting",
    "sgm.modules.diffusionmodules.loss_weighting.EDMWeighting": f"{_DIFFUSION}.weighting.EDMWeighting",
    "sgm.modules.diffusionmodules.loss_weighting.VWeighting": f"{_DIFFUSION}.weighting.VWeighting",
    "sgm.modules.diffusionmodules.loss_weighting.EpsWeighting": f"{_DIFFUSION}.weighting.EpsWeighting",
    "sgm.modules.diffusionmodules.sigma_sampling.EDMSampling": f"{_DIFFUSION}.sigma_sampling.EDMSampling",
    "sgm.modules.diffusionmodules.sigma_sampling.DiscreteSampling": f"{_DIFFUSION}.sigma_sampling.DiscreteSampling",
    "sgm.modules.diffusionmodules.sigma_sampling.ZeroSampler": f"{_DIFFUSION}.sigma_sampling.ZeroSampler",
    "sgm.modules.diffusionmodules.guiders.VanillaCFG": f"{_DIFFUSION}.guiders.VanillaCFG",
    "sgm.modules.diffusionmodules.guiders.IdentityGuider": f"{_DIFFUSION}.guiders.IdentityGuider",
    "sgm.modules.diffusionmodules.guiders.LinearPredictionGuider": f"{_DIFFUSION}.guiders.LinearPredictionGuider",
    "sgm.modules.diffusionmodules.guiders.TrianglePredictionGuider": f"{_DIFFUSION}.guiders.TrianglePredictionGuider",
    "sgm.modules.diffusionmodules.guiders.TrapezoidPredictionGuider": f"{_DIFFUSION}.guiders.TrapezoidPredictionGuider",
    "sgm.modules.diffusionmodules.guiders.SpatiotemporalPredictionGuider": f"{_DIFFUSION}.guiders.SpatiotemporalPredictionGuider",
    "sgm.modules.diffusionmodules.sampling.EulerEDMSampler": f"{_DIFFUSION}.samplers.EulerEDMSampler",
    "sgm.modules.diffusionmodules.sampling.HeunEDMSampler": f"{_DIFFUSION}.samplers.HeunEDMSampler",
    "sgm.modules.diffusionmodules.sampling.EulerAncestralSampler": f"{_DIFFUSION}.samplers.EulerAncestralSampler",
    "sgm.modules.diffusionmodules.sampling.DPMPP2SAncestralSampler": f"{_DIFFUSION}.samplers.DPMPP2SAncestralSampler",
    "sgm.modules.diffusionmodules.sampling.DPMPP2MSampler": f"{_DIFFUSION}.samplers.DPMPP2MSampler",
    "sgm.modules.diffusionmodules.sampling.LinearMultistepSampler": f"{_DIFFUSION}.samplers.LinearMultistepSampler",
    "sgm.modules.diffusionmodules.loss.StandardDiffusionLoss": f"{_DIFFUSION}.loss.StandardDiffusionLoss",
    "sgm.modules.diffusionmodules.wrappers.OpenAIWrapper": f"{_CORE}.engine.OpenAIWrapper",
    "sgm.modules.diffusionmodules.wrappers.IdentityWrapper": f"{_CORE}.engine.IdentityWrapper",
    "sgm.models.diffusion.DiffusionEngine": f"{_CORE}.engine.DiffusionEngine",
    # Networks (sgm-core)
    "sgm.modules.diffusionmodules.openaimodel.UNetModel": f"{_CORE}.nn.unet.UNetModel",
    "sgm.modules.attention.SpatialTransformer": f"{_CORE}.nn.transformer.SpatialTransformer",
    "sgm.modules.attention.BasicTransformerBlock": f"{_CORE}.nn.transformer.BasicTransformerBlock",
    "sgm.modules.diffusionmodules.util.AlphaBlender": f"{_CORE}.nn.alpha_blender.AlphaBlender",
    # Conditioners (sgm-conditioners)
    "sgm.modules.GeneralConditioner": f"{_COND}.general.GeneralConditioner",
    "sgm.modules.encoders.modules.GeneralConditioner": f"{_COND}.general.GeneralConditioner",
    "sgm.modules.encoders.modules.FrozenCLIPEmbedder": f"{_COND}.clip_text.FrozenCLIPEmbedder",
    "sgm.modules.encoders.modules.FrozenOpenCLIPEmbedder": f"{_COND}.open_clip_text.FrozenOpenCLIPEmbedder",
    "sgm.modules.encoders.modules.FrozenOpenCLIPEmbedder2": f"{_COND}.open_clip_text.FrozenOpenCLIPEmbedder2",
    "sgm.modules.encoders.modules.FrozenOpenCLIPImageEmbedder": f"{_COND}.open_clip_image.FrozenOpenCLIPImageEmbedder",
    "sgm.modules.encoders.modules.FrozenOpenCLIPImagePredictionEmbedder": f"{_COND}.open_clip_image.FrozenOpenCLIPImagePredictionEmbedder",
    "sgm.modules.encoders.modules.VideoPredictionEmbedderWithEncoder": f"{_COND}.video.VideoPredictionEmbedderWithEncoder",
    "sgm.modules.encoders.modules.ConcatTimestepEmbedderND": f"{_COND}.simple.ConcatTimestepEmbedderND",
    "sgm.modules.encoders.modules.ClassEmbedder": f"{_COND}.simple.ClassEmbedder",
    "sgm.modules.encoders.modules.IdentityEncoder": f"{_COND}.simple.IdentityEncoder",
    "sgm.modules.encoders.modules.SpatialRescaler": f"{_COND}.simple.SpatialRescaler",
    # Autoencoders (sgm-autoencoders)
    "sgm.models.autoencoder.AutoencodingEngine": f"{_AE}.engine.AutoencodingEngine",
    "sgm.models.autoencoder.AutoencodingEngineLegacy": f"{_AE}.engine.AutoencodingEngineLegacy",
    "sgm.models.autoencoder.AutoencoderKL": f"{_AE}.engine.AutoencoderKL",
    "sgm.models.autoencoder.AutoencoderKLModeOnly": f"{_AE}.engine.AutoencoderKLModeOnly",
    "sgm.models.autoencoder.AutoencoderLegacyVQ": f"{_AE}.engine.AutoencoderLegacyVQ",
    "sgm.models.autoencoder.IdentityFirstStage": f"{_AE}.engine.IdentityFirstStage",
    "sgm.modules.diffusionmodules.model.Encoder": f"{_AE}.model.Encoder",
    "sgm.modules.diffusionmodules.model.Decoder": f"{_AE}.model.Decoder",
    "sgm.modules.autoencoding.temporal_ae.VideoDecoder": f"{_AE}.temporal.VideoDecoder",
    "sgm.modules.autoencoding.regularizers.DiagonalGaussianRegularizer": f"{_AE}.regularizers.gaussian.DiagonalGaussianRegularizer",
    "sgm.modules.autoencoding.regularizers.quantize.VectorQuantizer": f"{_AE}.regularizers.quantize.VectorQuantizer",
    "sgm.modules.autoencoding.regularizers.quantize.EMAVectorQuantizer": f"{_AE}.regularizers.quantize.EMAVectorQuantizer",
    "sgm.modules.autoencoding.regularizers.quantize.GumbelQuantizer": f"{_AE}.regularizers.quantize.GumbelQuantizer",
    "sgm.modules.autoencoding.losses.GeneralLPIPSWithDiscriminator": f"{_AE}.losses.discriminator_loss.GeneralLPIPSWithDiscriminator",
    "sgm.modules.autoencoding.losses.LatentLPIPS": f"{_AE}.losses.latent_lpips.LatentLPIPS",
    "sgm.modules.autoencoding.lpips.model.model.NLayerDiscriminator": f"{_AE}.losses.discriminator.NLayerDiscriminator",
    "sgm.modules.autoencoding.lpips.loss.lpips.LPIPS": f"{_AE}.losses.lpips.LPIPS",
    # Video networks (sgm-video)
    "sgm.modules.diffusionmodules.video_model.VideoUNet": f"{_VIDEO}.unet.VideoUNet",
    "sgm.modules.diffusionmodules.video_model.SpatialUNetModelWithTime": f"{_VIDEO}.sv4d_unet.SpatialUNetModelWithTime",
    # Training (sgm-train) and the names outside `sgm` that the reference's training configs use
    "sgm.lr_scheduler.LambdaLinearScheduler": f"{_TRAIN}.lr_schedulers.LambdaLinearScheduler",
    "sgm.lr_scheduler.LambdaWarmUpCosineScheduler": f"{_TRAIN}.lr_schedulers.LambdaWarmUpCosineScheduler",
    "sgm.lr_scheduler.LambdaWarmUpCosineScheduler2": f"{_TRAIN}.lr_schedulers.LambdaWarmUpCosineScheduler2",
    "sgm.data.dataset.StableDataModuleFromConfig": f"{_TRAIN}.data.webdataset.StableDataModuleFromConfig",
    "sgm.data.mnist.MNISTLoader": f"{_TRAIN}.data.toy.MNISTLoader",
    "sgm.data.cifar10.CIFAR10Loader": f"{_TRAIN}.data.toy.CIFAR10Loader",
    "main.ImageLogger": f"{_TRAIN}.callbacks.ImageLogger",
    "sdata.mappers.AddOriginalImageSizeAsTupleAndCropToSquare": f"{_TRAIN}.data.mappers.AddOriginalImageSizeAsTupleAndCropToSquare",
    "sdata.mappers.Rescaler": f"{_TRAIN}.data.mappers.Rescaler",
    "sdata.mappers.TorchVisionImageTransforms": f"{_TRAIN}.data.mappers.TorchVisionImageTransforms",
    "pytorch_lightning.strategies.DDPStrategy": "lightning.pytorch.strategies.DDPStrategy",
    "pytorch_lightning.callbacks.ModelCheckpoint": "lightning.pytorch.callbacks.ModelCheckpoint",
    "pytorch_lightning.callbacks.LearningRateMonitor": "lightning.pytorch.callbacks.LearningRateMonitor",
    "pytorch_lightning.loggers.CSVLogger": "lightning.pytorch.loggers.CSVLogger",
    "pytorch_lightning.loggers.TensorBoardLogger": "lightning.pytorch.loggers.TensorBoardLogger",
    "pytorch_lightning.loggers.WandbLogger": "lightning.pytorch.loggers.WandbLogger",
}

# Modules a config may import from directly (a target is allowed when it starts with one of these plus ".").
ALLOWED_MODULE_PREFIXES: tuple[str, ...] = (
    "sgm.core",
    "sgm.kernels",
    "sgm.conditioners",
    "sgm.autoencoders",
    "sgm.video",
    "sgm.train",
    "torch.nn",
    "torch.optim",
    "torchvision.transforms",
    "lightning.pytorch.strategies",
    "lightning.pytorch.callbacks",
    "lightning.pytorch.loggers",
)
