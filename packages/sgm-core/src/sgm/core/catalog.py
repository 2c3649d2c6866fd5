"""The models sgm knows: official file names, where to get them, their config, layout and sampling defaults.

Defaults follow the reference's scripts: `sgm/inference/api.py` (SD 2.1, SDXL), `scripts/demo/turbo.py` (Turbo),
`scripts/sampling/simple_video_sample*.py` and their configs' guiders (SVD, SV3D, SV4D). Configs are package
resources `(package, path)`, so a video model's config can live in sgm.video without sgm.core importing it.
"""

import functools
import gzip
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sgm.core.errors import SgmError

CHECKPOINT_DIR_ENV = "SGM_CHECKPOINT_DIR"
DEFAULT_CHECKPOINT_DIR = "checkpoints"
TASKS = ("txt2img", "img2img", "class2img", "img2video", "img2orbit", "video2views")

IMAGE_PIPELINE = "sgm.core.pipelines.image:run"
_VIDEO_PIPELINE = "sgm.video.pipelines:run"
_LAYOUT_PACKAGE, _LAYOUT_DIR = "sgm.core", "configs/layouts"


@dataclass(frozen=True)
class Resource:
    """A file shipped inside an installed package, e.g. `Resource("sgm.video", "configs/models/svd.yaml")`."""

    package: str
    path: str

    def open_text(self) -> str:
        try:
            return resources.files(self.package).joinpath(self.path).read_text()
        except (ModuleNotFoundError, FileNotFoundError):
            raise SgmError(f"{self.path} of package {self.package} is not installed") from None

    def location(self) -> str:
        """Where the file is or would be in this install (for messages)."""
        try:
            return str(resources.files(self.package).joinpath(self.path))
        except ModuleNotFoundError:
            return f"{self.path} in package {self.package}"

    def local_path(self) -> Path | None:
        """The file on disk when the package is installed as files (workspace or wheel), else None."""
        try:
            path = Path(str(resources.files(self.package).joinpath(self.path)))
        except ModuleNotFoundError:
            return None
        return path if path.is_file() else None


@dataclass(frozen=True)
class ModelEntry:
    name: str
    task: str
    files: tuple[str, ...]  # official file names, the usual one first
    source: str  # where users download the file (printed, never fetched)
    config: Resource  # model config (DiffusionEngine without sampler_config)
    layout: str  # name of the reference layout this model's checkpoints have
    pipeline: str  # "module:function" that `sgm sample` calls with a SampleRequest
    defaults: Mapping[str, Any] = field(default_factory=dict)
    size_multiple: int = 64  # width and height must be multiples of this
    bundled_weights: Resource | None = None  # weights shipped in a package instead of downloaded

    @property
    def file(self) -> str:
        return self.files[0]


def _hf(repo: str) -> str:
    return f"https://huggingface.co/{repo}"


def _core(path: str) -> Resource:
    return Resource("sgm.core", f"configs/models/{path}")


def _video(path: str) -> Resource:
    return Resource("sgm.video", f"configs/models/{path}")


# api.py's SamplingParams: 50 DPM++ 2M steps on the legacy DDPM schedule, classifier-free guidance 6.0.
_SD = {"steps": 50, "sampler": "DPMPP2MSampler", "discretization": "LegacyDDPMDiscretization", "cfg": 6.0, "seed": 42}
# api.py and sampling.py zero the text embeddings of SDXL base's unconditional input ("is_legacy": False).
_SDXL = _SD | {"width": 1024, "height": 1024, "force_uc_zero_embeddings": ["txt"]}
# turbo.py: one Euler ancestral step on its substeps of the DDPM schedule, NumPy noise, no guidance, 512x512, seed 0.
_TURBO = {"steps": 1, "sampler": "EulerAncestralSampler", "discretization": "TurboSubstepDiscretization", "cfg": 1.0}
_TURBO |= {"noise": "numpy", "width": 512, "height": 512, "seed": 0}
# simple_video_sample.py and the configs' EDM discretization and prediction guiders.
_VIDEO = {"sampler": "EulerEDMSampler", "discretization": "EDMDiscretization", "seed": 23, "fps_id": 6}
_SVD = _VIDEO | {"width": 1024, "height": 576, "motion_bucket_id": 127, "cond_aug": 0.02, "decoding_t": 14}
_SVD14 = _SVD | {"num_frames": 14, "steps": 25, "cfg": 2.5, "min_cfg": 1.0}
_SVD25 = _SVD | {"num_frames": 25, "steps": 30, "cfg": 3.0, "min_cfg": 1.5}
_SV3D = _VIDEO | {"width": 576, "height": 576, "num_frames": 21, "steps": 50, "cfg": 2.5, "cond_aug": 1e-5}
_SV3D |= {"decoding_t": 14, "elevation_deg": 10.0}
_SV4D = _VIDEO | {"width": 576, "height": 576, "num_frames": 21, "cond_aug": 1e-5, "decoding_t": 4, "encoding_t": 8}


def _entries() -> list[ModelEntry]:
    sd21, sd21_768 = _hf("stabilityai/stable-diffusion-2-1-base"), _hf("stabilityai/stable-diffusion-2-1")
    sdxl, refiner = _hf("stabilityai/stable-diffusion-xl-base-1.0"), _hf("stabilityai/stable-diffusion-xl-refiner-1.0")
    svd = _hf("stabilityai/stable-video-diffusion-img2vid")
    svd_xt = _hf("stabilityai/stable-video-diffusion-img2vid-xt")
    sv3d, sv4d2 = _hf("stabilityai/sv3d"), _hf("stabilityai/sv4d2.0")
    return [
        ModelEntry("sd-2.1", "txt2img", ("v2-1_512-ema-pruned.safetensors",), sd21, _core("sd_2_1.yaml"), "sd_2_1",
                   IMAGE_PIPELINE, _SD | {"width": 512, "height": 512}),
        ModelEntry("sd-2.1-768", "txt2img", ("v2-1_768-ema-pruned.safetensors",), sd21_768,
                   _core("sd_2_1_768.yaml"), "sd_2_1_768", IMAGE_PIPELINE, _SD | {"width": 768, "height": 768}),
        ModelEntry("sdxl-base", "txt2img", ("sd_xl_base_1.0.safetensors",), sdxl,
                   _core("sd_xl_base.yaml"), "sd_xl_base", IMAGE_PIPELINE, _SDXL | {"refiner_strength": 0.15}),
        ModelEntry("sdxl-refiner", "img2img", ("sd_xl_refiner_1.0.safetensors",), refiner,
                   _core("sd_xl_refiner.yaml"), "sd_xl_refiner", IMAGE_PIPELINE,
                   _SD | {"width": 1024, "height": 1024, "strength": 0.15}),
        ModelEntry("sdxl-turbo", "txt2img", ("sd_xl_turbo_1.0_fp16.safetensors", "sd_xl_turbo_1.0.safetensors"),
                   _hf("stabilityai/sdxl-turbo"), _core("sd_xl_base.yaml"), "sd_xl_base", IMAGE_PIPELINE, _TURBO),
        ModelEntry("sd-turbo", "txt2img", ("sd_turbo.safetensors",), _hf("stabilityai/sd-turbo"), _core("sd_2_1.yaml"),
                   "sd_2_1", IMAGE_PIPELINE, _TURBO),
        ModelEntry("svd", "img2video", ("svd.safetensors",), svd, _video("svd.yaml"), "sampling-svd", _VIDEO_PIPELINE,
                   _SVD14),
        ModelEntry("svd-xt", "img2video", ("svd_xt.safetensors",), svd_xt, _video("svd_xt.yaml"), "sampling-svd_xt",
                   _VIDEO_PIPELINE, _SVD25),
        ModelEntry("svd-xt-1.1", "img2video", ("svd_xt_1_1.safetensors",),
                   _hf("stabilityai/stable-video-diffusion-img2vid-xt-1-1"), _video("svd_xt_1_1.yaml"),
                   "sampling-svd_xt_1_1", _VIDEO_PIPELINE, _SVD25),
        ModelEntry("svd-image-decoder", "img2video", ("svd_image_decoder.safetensors",), svd,
                   _video("svd_image_decoder.yaml"), "sampling-svd_image_decoder", _VIDEO_PIPELINE, _SVD14),
        ModelEntry("svd-xt-image-decoder", "img2video", ("svd_xt_image_decoder.safetensors",), svd_xt,
                   _video("svd_xt_image_decoder.yaml"), "sampling-svd_xt_image_decoder", _VIDEO_PIPELINE, _SVD25),
        ModelEntry("sv3d-u", "img2orbit", ("sv3d_u.safetensors",), sv3d, _video("sv3d_u.yaml"), "sampling-sv3d_u",
                   _VIDEO_PIPELINE, _SV3D),
        ModelEntry("sv3d-p", "img2orbit", ("sv3d_p.safetensors",), sv3d, _video("sv3d_p.yaml"), "sampling-sv3d_p",
                   _VIDEO_PIPELINE, _SV3D),
        ModelEntry("sv4d", "video2views", ("sv4d.safetensors",), _hf("stabilityai/sv4d"), _video("sv4d.yaml"),
                   "sampling-sv4d", _VIDEO_PIPELINE,
                   _SV4D | {"steps": 20, "cfg": 2.5, "min_cfg": 1.0, "num_views": 8, "motion_bucket_id": 127}),
        ModelEntry("sv4d2", "video2views", ("sv4d2.safetensors",), sv4d2, _video("sv4d2.yaml"), "sampling-sv4d2",
                   _VIDEO_PIPELINE, _SV4D | {"steps": 50, "cfg": 2.0, "min_cfg": 2.0, "num_views": 4}),
        ModelEntry("sv4d2-8views", "video2views", ("sv4d2_8views.safetensors",), sv4d2, _video("sv4d2_8views.yaml"),
                   "sampling-sv4d2_8views", _VIDEO_PIPELINE,
                   _SV4D | {"steps": 50, "cfg": 2.5, "min_cfg": 1.5, "num_views": 8}),
        # The embedded toy model: a class-conditional pixel-space UNet for 16x16 digits, trained by sgm-train.
        ModelEntry("digits", "class2img", ("digits.safetensors",), "trained by sgm-train (uv run apps/train)",
                   _core("digits.yaml"), "digits", IMAGE_PIPELINE,
                   {"width": 16, "height": 16, "steps": 50, "sampler": "EulerEDMSampler",
                    "discretization": "EDMDiscretization", "cfg": 3.0, "seed": 42, "class_label": 0},
                   size_multiple=4, bundled_weights=_core("digits.safetensors")),
    ]  # fmt: skip


CATALOG: Mapping[str, ModelEntry] = MappingProxyType({entry.name: entry for entry in _entries()})


def get_entry(name: str) -> ModelEntry:
    """The catalog entry for a model name; an unknown name is an SgmError listing the known ones."""
    if name not in CATALOG:
        raise SgmError(f"unknown model {name!r}: choose one of {', '.join(CATALOG)} (see `sgm models`)")
    return CATALOG[name]


def checkpoint_dir() -> Path:
    """Where checkpoints are looked up: `$SGM_CHECKPOINT_DIR`, else `./checkpoints` in the working directory."""
    return Path(os.environ.get(CHECKPOINT_DIR_ENV) or DEFAULT_CHECKPOINT_DIR)


def local_checkpoint(name: str) -> Path | None:
    """The model's checkpoint on this machine (bundled, or under an official name in `checkpoint_dir()`), or None."""
    entry = get_entry(name)
    if entry.bundled_weights is not None:
        return entry.bundled_weights.local_path()
    folder = checkpoint_dir()
    return next((folder / file for file in entry.files if (folder / file).is_file()), None)


def find_checkpoint(name: str, path: str | Path | None = None) -> Path:
    """The checkpoint file for `name` (an explicit `path` wins); if absent, an SgmError naming the file, the folder
    searched and where to download it."""
    entry = get_entry(name)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise SgmError(f"checkpoint file not found: {path}")
        return path
    found = local_checkpoint(name)
    if found is not None:
        return found
    if entry.bundled_weights is not None:
        raise SgmError(
            f"{name}: its weights {entry.file} are not in this install yet; train them with sgm-train "
            f"(uv run apps/train) and save them as {entry.bundled_weights.location()}"
        )
    raise SgmError(
        f"{name}: checkpoint {entry.file} not found in {checkpoint_dir().resolve()} "
        f"(set {CHECKPOINT_DIR_ENV} or pass --ckpt); download it from {entry.source}"
    )


def model_config(name: str):
    """The model's config as an OmegaConf node (the `model:` block: a DiffusionEngine without sampler)."""
    from omegaconf import OmegaConf

    config = OmegaConf.create(get_entry(name).config.open_text())
    return config.model if "model" in config else config


def build_model(name: str, *, device: str | None = "meta"):
    """The model built from its catalog config without initializing its parameters.

    `device=None`: parameters on the meta device (nothing allocated) and buffers computed on the CPU, ready for
    `load_checkpoint_into` to assign a file's tensors without a second copy. `"meta"`: everything on meta (a
    layout only). Any other device: parameters allocated there with undefined values (fill them from a
    checkpoint) and the computed buffers moved there. Buffers are computed for real because some come from numpy.
    """
    import torch

    from sgm.core.checkpoint.empty import empty_parameters
    from sgm.core.config import instantiate

    with empty_parameters():
        model = instantiate(model_config(name), key_path=f"{name}.model")
    if device is None or device == "meta":
        return model if device is None else model.to("meta")
    buffers = dict(model.named_buffers())  # to_empty replaces them with new tensors
    model.to_empty(device=device)
    with torch.no_grad():
        for key, buffer in buffers.items():
            model.get_buffer(key).copy_(buffer)
    return model


def shipped_layout(layout: str) -> dict | None:
    """A layout computed from our meta-built model and shipped as package data, or None if not shipped."""
    resource = Resource(_LAYOUT_PACKAGE, f"{_LAYOUT_DIR}/{layout}.json.gz").local_path()
    if resource is None:
        return None
    with gzip.open(resource, "rt") as file:
        return json.load(file)


def expected_layout(name: str) -> dict:
    """`{key: [shape, dtype]}` of the model's checkpoint: the shipped layout, else computed on the meta device."""
    return _layout_cached(get_entry(name).layout, name)


@functools.cache
def _layout_cached(layout: str, name: str) -> dict:
    from sgm.core.checkpoint.layouts import layout_of

    shipped = shipped_layout(layout)
    return shipped if shipped is not None else layout_of(build_model(name, device="meta"))
