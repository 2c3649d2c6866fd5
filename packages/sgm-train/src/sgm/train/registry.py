"""The reference names of the LR schedules, data modules and callbacks, and Lightning's classes under their old names, and the modules configs may build from (read through the `sgm.config`
entry point by sgm.core.config.registry)."""

REFERENCE_TARGETS: dict[str, str] = {
    "sgm.lr_scheduler.LambdaLinearScheduler": "sgm.train.lr_schedulers.LambdaLinearScheduler",
    "sgm.lr_scheduler.LambdaWarmUpCosineScheduler": "sgm.train.lr_schedulers.LambdaWarmUpCosineScheduler",
    "sgm.lr_scheduler.LambdaWarmUpCosineScheduler2": "sgm.train.lr_schedulers.LambdaWarmUpCosineScheduler2",
    "sgm.data.dataset.StableDataModuleFromConfig": "sgm.train.data.webdataset.StableDataModuleFromConfig",
    "sgm.data.mnist.MNISTLoader": "sgm.train.data.toy.MNISTLoader",
    "sgm.data.cifar10.CIFAR10Loader": "sgm.train.data.toy.CIFAR10Loader",
    "main.ImageLogger": "sgm.train.callbacks.ImageLogger",
    "sdata.mappers.AddOriginalImageSizeAsTupleAndCropToSquare": "sgm.train.data.mappers.AddOriginalImageSizeAsTupleAndCropToSquare",
    "sdata.mappers.Rescaler": "sgm.train.data.mappers.Rescaler",
    "sdata.mappers.TorchVisionImageTransforms": "sgm.train.data.mappers.TorchVisionImageTransforms",
    "pytorch_lightning.strategies.DDPStrategy": "lightning.pytorch.strategies.DDPStrategy",
    "pytorch_lightning.callbacks.ModelCheckpoint": "lightning.pytorch.callbacks.ModelCheckpoint",
    "pytorch_lightning.callbacks.LearningRateMonitor": "lightning.pytorch.callbacks.LearningRateMonitor",
    "pytorch_lightning.loggers.CSVLogger": "lightning.pytorch.loggers.CSVLogger",
    "pytorch_lightning.loggers.TensorBoardLogger": "lightning.pytorch.loggers.TensorBoardLogger",
    "pytorch_lightning.loggers.WandbLogger": "lightning.pytorch.loggers.WandbLogger",
}

CONFIG_MODULES: tuple[str, ...] = (
    "sgm.train",
    "torchvision.transforms",
    "lightning.pytorch.strategies",
    "lightning.pytorch.callbacks",
    "lightning.pytorch.loggers",
)
