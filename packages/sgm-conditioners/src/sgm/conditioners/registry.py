"""What configs may build from sgm-conditioners: the reference's dotted names for the conditioner and its embedders mapped to ours, and the modules a
config may name directly. sgm.core's config loader reads every installed package's registry through the `sgm.config`
entry points, so no package names one above it."""

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
