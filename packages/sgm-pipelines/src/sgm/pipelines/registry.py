"""The models sgm-pipelines ships: the image models (SD 2.1, SDXL, the Turbos), whose configs assemble sgm-core's
UNet with sgm-conditioners' text encoders and sgm-autoencoders' VAE, and the embedded digits model with its weights.
Read by the catalog through the `sgm.models` entry points, like every package's; defaults are each config's
`sampling:` block."""

REFERENCE_TARGETS: dict[str, str] = {}
CONFIG_TARGETS: dict[str, tuple[str, ...]] = {}  # its configs name only the classes of the packages below

_HF = "https://huggingface.co/stabilityai/"
MODELS: tuple[dict, ...] = (
    {"name": "sd-2.1", "files": ["v2-1_512-ema-pruned.safetensors"], "source": _HF + "stable-diffusion-2-1-base",
     "config": "sd_2_1.yaml", "layout": "sd_2_1"},
    {"name": "sd-2.1-768", "files": ["v2-1_768-ema-pruned.safetensors"], "source": _HF + "stable-diffusion-2-1",
     "config": "sd_2_1_768.yaml", "layout": "sd_2_1_768"},
    {"name": "sdxl-base", "files": ["sd_xl_base_1.0.safetensors"], "source": _HF + "stable-diffusion-xl-base-1.0",
     "config": "sd_xl_base.yaml", "layout": "sd_xl_base"},
    {"name": "sdxl-refiner", "files": ["sd_xl_refiner_1.0.safetensors"],
     "source": _HF + "stable-diffusion-xl-refiner-1.0", "config": "sd_xl_refiner.yaml", "layout": "sd_xl_refiner"},
    {"name": "sdxl-turbo", "files": ["sd_xl_turbo_1.0_fp16.safetensors", "sd_xl_turbo_1.0.safetensors"],
     "source": _HF + "sdxl-turbo", "config": "sd_xl_turbo.yaml", "layout": "sd_xl_base"},
    {"name": "sd-turbo", "files": ["sd_turbo.safetensors"], "source": _HF + "sd-turbo", "config": "sd_turbo.yaml",
     "layout": "sd_2_1"},
    # The embedded toy model: a class-conditional pixel-space UNet for 16x16 digits, trained by sgm-train.
    {"name": "digits", "files": ["digits.safetensors"], "source": "trained by sgm-train (uv run apps/train)",
     "config": "digits.yaml", "layout": "digits", "size_multiple": 4, "bundled_weights": "digits.safetensors"},
)  # fmt: skip
