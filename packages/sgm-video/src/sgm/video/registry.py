"""The reference names of the video networks, and the modules configs may build from (read through the `sgm.config`
entry point by sgm.core.config.registry)."""

REFERENCE_TARGETS: dict[str, str] = {
    "sgm.modules.diffusionmodules.video_model.VideoUNet": "sgm.video.unet.VideoUNet",
    "sgm.modules.diffusionmodules.video_model.SpatialUNetModelWithTime": "sgm.video.sv4d_unet.SpatialUNetModelWithTime",
}

CONFIG_MODULES: tuple[str, ...] = (
    "sgm.video",
)

# The models whose configs and layouts this package ships (`configs/models/`, `configs/layouts/<layout>.json.gz`),
# read by the catalog through the `sgm.models` entry points; their defaults are each config's `sampling:` block.
_HF = "https://huggingface.co/stabilityai/"
_SVD, _SVD_XT = _HF + "stable-video-diffusion-img2vid", _HF + "stable-video-diffusion-img2vid-xt"
MODELS: tuple[dict, ...] = (
    {"name": "svd", "files": ["svd.safetensors"], "source": _SVD, "config": "svd.yaml", "layout": "sampling-svd"},
    {"name": "svd-xt", "files": ["svd_xt.safetensors"], "source": _SVD_XT, "config": "svd_xt.yaml",
     "layout": "sampling-svd_xt"},
    {"name": "svd-xt-1.1", "files": ["svd_xt_1_1.safetensors"], "source": _SVD_XT + "-1-1",
     "config": "svd_xt_1_1.yaml", "layout": "sampling-svd_xt_1_1"},
    {"name": "svd-image-decoder", "files": ["svd_image_decoder.safetensors"], "source": _SVD,
     "config": "svd_image_decoder.yaml", "layout": "sampling-svd_image_decoder"},
    {"name": "svd-xt-image-decoder", "files": ["svd_xt_image_decoder.safetensors"], "source": _SVD_XT,
     "config": "svd_xt_image_decoder.yaml", "layout": "sampling-svd_xt_image_decoder"},
    {"name": "sv3d-u", "files": ["sv3d_u.safetensors"], "source": _HF + "sv3d", "config": "sv3d_u.yaml",
     "layout": "sampling-sv3d_u"},
    {"name": "sv3d-p", "files": ["sv3d_p.safetensors"], "source": _HF + "sv3d", "config": "sv3d_p.yaml",
     "layout": "sampling-sv3d_p"},
    {"name": "sv4d", "files": ["sv4d.safetensors"], "source": _HF + "sv4d", "config": "sv4d.yaml",
     "layout": "sampling-sv4d"},
    {"name": "sv4d2", "files": ["sv4d2.safetensors"], "source": _HF + "sv4d2.0", "config": "sv4d2.yaml",
     "layout": "sampling-sv4d2"},
    {"name": "sv4d2-8views", "files": ["sv4d2_8views.safetensors"], "source": _HF + "sv4d2.0",
     "config": "sv4d2_8views.yaml", "layout": "sampling-sv4d2_8views"},
)  # fmt: skip
