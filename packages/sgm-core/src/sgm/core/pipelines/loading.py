"""An image pipeline for a catalog model: its config built without allocating, then its checkpoint assigned."""

from pathlib import Path

import torch

from sgm.core import catalog
from sgm.core.errors import SgmError
from sgm.core.pipelines.image import ImagePipeline
from sgm.kernels import pack_weights

HALF_DTYPES = (torch.float16, torch.bfloat16)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def build_engine(model: str) -> torch.nn.Module:
    """The catalog model with parameters on the meta device and buffers computed on the CPU; the checkpoint load
    assigns the parameters and moves everything to its device."""
    return catalog.build_model(model, device=None)


def check_checkpoint_fits(engine: torch.nn.Module, model: str, path: Path, *, allow_pickle: bool = False) -> None:
    """Nothing when the file at `path` fits `engine` (keys and shapes, from the header alone); else an SgmError
    naming the catalog models it is a checkpoint of, or what differs when it fits none."""
    from sgm.core.checkpoint import compare_layouts, layout_of, match_models, read_layout

    diff = compare_layouts(layout_of(engine), read_layout(path, allow_pickle=allow_pickle))
    if diff.fits:
        return
    others = [name for name in match_models(path, allow_pickle=allow_pickle) if name != model]
    if others:
        raise SgmError(
            f"{path} is a checkpoint of {' / '.join(others)}, not of {model}: sample it with --model {others[0]}"
        )
    raise SgmError(f"{path} is not a {model} checkpoint and fits no known model: {'; '.join(diff.summary())}")


def load_pipeline(
    model: str,
    *,
    ckpt: str | Path | None = None,
    device: str | None = None,
    dtype: str | torch.dtype | None = None,
    watermark: bool = True,
    allow_pickle: bool = False,
) -> ImagePipeline:
    """The `ImagePipeline` of catalog model `model` (e.g. "sdxl-base", "sd-turbo", "digits"), its checkpoint found
    in `ckpt` or the checkpoint folder; `dtype` ("fp16", "bf16", "fp32", "fp64") applies to the weights, except
    that a half-precision model keeps its autoencoder in fp32 as api.py does (SDXL's VAE overflows in fp16);
    `allow_pickle` permits .ckpt files (pickles run code: only for files you trust)."""
    from sgm.core.checkpoint import load_checkpoint_into, parse_dtype

    entry = catalog.get_entry(model)
    if entry.pipeline != catalog.IMAGE_PIPELINE:
        raise SgmError(f"{model} is a {entry.task} model, not an image model: use its pipeline {entry.pipeline}")
    path = catalog.find_checkpoint(model, ckpt)
    device = device or default_device()
    engine = build_engine(model)
    check_checkpoint_fits(engine, model, path, allow_pickle=allow_pickle)
    load_checkpoint_into(engine, path, dtype=dtype, device=device, allow_pickle=allow_pickle)
    if parse_dtype(dtype) in HALF_DTYPES:
        engine.first_stage_model.float()
    # fp32 CPU inference: convolutions and linear layers keep oneDNN's weight layout (a no-op elsewhere)
    engine.model.diffusion_model.pack_weights()
    pack_weights(engine.first_stage_model)
    return ImagePipeline(
        engine, name=model, defaults=entry.defaults, size_multiple=entry.size_multiple, watermark=watermark
    )
