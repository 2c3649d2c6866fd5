"""The reference names of the LR schedules, data modules and callbacks, and Lightning's classes under their old names, and the classes configs may build (read through the `sgm.config`
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

CONFIG_TARGETS: dict[str, tuple[str, ...]] = {
    "sgm.train.lr_schedulers": ("LambdaLinearScheduler", "LambdaWarmUpCosineScheduler", "LambdaWarmUpCosineScheduler2"),
    "sgm.train.data.webdataset": ("StableDataModuleFromConfig",),
    "sgm.train.data.toy": ("DigitsLoader", "MNISTLoader", "CIFAR10Loader"),
    "sgm.train.data.folder": ("ImageFolderLoader",),
    "sgm.train.data.mappers": ("AddOriginalImageSizeAsTupleAndCropToSquare", "Rescaler", "TorchVisionImageTransforms"),
    "sgm.train.callbacks": ("ImageLogger",),
    "torchvision.transforms": (
        "Resize", "ToTensor", "CenterCrop", "RandomCrop", "RandomResizedCrop", "RandomHorizontalFlip", "Normalize",
    ),
    "lightning.pytorch.strategies": ("DDPStrategy", "FSDPStrategy", "SingleDeviceStrategy"),
    "lightning.pytorch.callbacks": (
        "ModelCheckpoint", "LearningRateMonitor", "TQDMProgressBar", "RichProgressBar", "EarlyStopping",
    ),
    "lightning.pytorch.loggers": ("CSVLogger", "TensorBoardLogger", "WandbLogger"),
}  # fmt: skip
