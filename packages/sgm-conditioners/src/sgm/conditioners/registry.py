"""The reference names of the conditioner and its embedders, and the modules configs may build from (read through the `sgm.config`
entry point by sgm.core.config.registry)."""

REFERENCE_TARGETS: dict[str, str] = {
    "sgm.modules.GeneralConditioner": "sgm.conditioners.general.GeneralConditioner",
    "sgm.modules.encoders.modules.GeneralConditioner": "sgm.conditioners.general.GeneralConditioner",
    "sgm.modules.encoders.modules.FrozenCLIPEmbedder": "sgm.conditioners.clip_text.FrozenCLIPEmbedder",
    "sgm.modules.encoders.modules.FrozenOpenCLIPEmbedder": "sgm.conditioners.open_clip_text.FrozenOpenCLIPEmbedder",
    "sgm.modules.encoders.modules.FrozenOpenCLIPEmbedder2": "sgm.conditioners.open_clip_text.FrozenOpenCLIPEmbedder2",
    "sgm.modules.encoders.modules.FrozenOpenCLIPImageEmbedder": "sgm.conditioners.open_clip_image.FrozenOpenCLIPImageEmbedder",
    "sgm.modules.encoders.modules.FrozenOpenCLIPImagePredictionEmbedder": "sgm.conditioners.open_clip_image.FrozenOpenCLIPImagePredictionEmbedder",
    "sgm.modules.encoders.modules.VideoPredictionEmbedderWithEncoder": "sgm.conditioners.video.VideoPredictionEmbedderWithEncoder",
    "sgm.modules.encoders.modules.ConcatTimestepEmbedderND": "sgm.conditioners.simple.ConcatTimestepEmbedderND",
    "sgm.modules.encoders.modules.ClassEmbedder": "sgm.conditioners.simple.ClassEmbedder",
    "sgm.modules.encoders.modules.IdentityEncoder": "sgm.conditioners.simple.IdentityEncoder",
    "sgm.modules.encoders.modules.SpatialRescaler": "sgm.conditioners.simple.SpatialRescaler",
}

CONFIG_MODULES: tuple[str, ...] = (
    "sgm.conditioners",
)
