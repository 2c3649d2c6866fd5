"""Loading a catalog model for sampling, the same way for every model: its checkpoint found and checked against its
layout (from the file's header, before anything large is read), the model built without allocating and the file's
tensors assigned in the requested dtype, `optimize_for_inference` applied, and the models it works with (SV4D's
SV3D reference views) found and checked before the first large load."""

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from sgm.core.checkpoint import compare_layouts, layout_of, load_checkpoint_into, parse_dtype, read_layout
from sgm.core.errors import SgmError
from sgm.core.inference import optimize_for_inference
from sgm.pipelines import catalog
from sgm.pipelines.image import ImagePipeline
from sgm.pipelines.image_to_video import ImageToVideoPipeline
from sgm.pipelines.offloading import HOME, place
from sgm.pipelines.video import VideoPipeline
from sgm.pipelines.video_to_4d import VideoTo4DPipeline

HALF_DTYPES = (torch.float16, torch.bfloat16)
Pipeline = ImagePipeline | VideoPipeline
VIDEO_PIPELINES = {"img2video": ImageToVideoPipeline, "img2orbit": ImageToVideoPipeline,
                   "video2views": VideoTo4DPipeline}  # fmt: skip


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def default_dtype(device: torch.device) -> str | None:
    """bf16 on CUDA (tensor cores, half the memory; the autoencoders stay fp32), the checkpoint's fp32 elsewhere."""
    return "bf16" if device.type == "cuda" else None


def check_device(device: str | torch.device | None) -> torch.device:
    """The device to run on (None: cuda when available); one that this machine lacks is an SgmError."""
    if device is None:
        return default_device()
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise SgmError(f"unknown device {device!r}: use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise SgmError(f"device {device} is not available on this machine: use --device cpu")
    return device


def check_checkpoint_fits(engine: torch.nn.Module, model: str, path: Path, *, allow_pickle: bool = False) -> None:
    """Nothing when the file at `path` fits `engine` (keys and shapes, from the header alone); else an SgmError
    naming the catalog models it is a checkpoint of, or what differs when it fits none."""
    diff = compare_layouts(layout_of(engine), read_layout(path, allow_pickle=allow_pickle))
    if diff.fits:
        return
    others = [name for name in catalog.matching_models(path, allow_pickle=allow_pickle) if name != model]
    if others:
        raise SgmError(
            f"{path} is a checkpoint of {' / '.join(others)}, not of {model}: sample it with --model {others[0]}"
        )
    raise SgmError(f"{path} is not a {model} checkpoint and fits no known model: {'; '.join(diff.summary())}")


def apply_dtype_policy(engine: torch.nn.Module, dtype: str | torch.dtype | None, *, cast: bool = False) -> None:
    """In half precision the autoencoders and image encoders stay fp32, as the reference's scripts keep them (SDXL's
    VAE overflows in fp16); `cast`: first give every floating-point parameter `dtype`, as loading a checkpoint in
    `dtype` does (the memory plan's meta-device model)."""
    dtype = parse_dtype(dtype)
    if cast and dtype is not None:
        for parameter in engine.parameters():
            if parameter.is_floating_point():
                parameter.data = parameter.data.to(dtype)
    if dtype in HALF_DTYPES:
        engine.first_stage_model.float()
        for embedder in engine.conditioner.embedders:
            if embedder.input_key != "txt":
                embedder.float()


def load_engine(
    model: str,
    path: Path,
    *,
    device: torch.device,
    dtype: str | torch.dtype | None,
    allow_pickle: bool = False,
    load_device: torch.device | None = None,
) -> torch.nn.Module:
    """The catalog model's DiffusionEngine with the checkpoint at `path`, ready for inference on `device`, its
    weights loaded onto `load_device` (default `device`; the host when offloading).

    `dtype` ("fp16", "bf16", "fp32", "fp64") applies to the network and the text encoders (`apply_dtype_policy`).
    """
    engine = catalog.build_model(model, device=None)
    check_checkpoint_fits(engine, model, path, allow_pickle=allow_pickle)
    load_checkpoint_into(engine, path, dtype=dtype, device=str(load_device or device), allow_pickle=allow_pickle)
    apply_dtype_policy(engine, dtype)
    return optimize_for_inference(engine, device)


def load_pipeline(
    model: str,
    *,
    ckpt: str | Path | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    allow_pickle: bool = False,
    watermark: bool = True,
    reference_ckpt: str | Path | None = None,
    offload: str | None = None,
) -> Pipeline:
    """The pipeline of catalog model `model` (e.g. "sdxl-base", "svd-xt", "digits"), its checkpoint `ckpt` or found
    in the checkpoint folder; `dtype` None: bf16 on CUDA, fp32 elsewhere; `allow_pickle` permits .ckpt files (read weights-only); `watermark` marks every output.
    A model that works with another (SV4D takes its first frame's views from SV3D_u) gets it loaded too, from
    `reference_ckpt` or the checkpoint folder, and both files are found and checked before either loads.
    `offload` ("none", "model", "sequential"; see `offloading`): where weights sit while each stage runs; with
    offloading they load onto the host."""
    entry = catalog.get_entry(model)
    device = check_device(device)
    dtype = default_dtype(device) if dtype is None else dtype
    path = catalog.find_checkpoint(model, ckpt)
    companion = entry.defaults.get("reference_views_model")
    companion_path = catalog.find_checkpoint(companion, reference_ckpt) if companion else None
    if companion_path is not None:
        check_checkpoint_fits(catalog.build_model(companion, device="meta"), companion, companion_path,
                              allow_pickle=allow_pickle)  # fmt: skip
    offload = offload or "none"
    load_device = device if offload == "none" else HOME
    engine = load_engine(model, path, device=device, dtype=dtype, allow_pickle=allow_pickle, load_device=load_device)
    reference = None
    if companion_path is not None:
        reference = load_pipeline(companion, ckpt=companion_path, device=device, dtype=dtype,
                                  allow_pickle=allow_pickle, watermark=False, offload=offload)  # fmt: skip
    sampler_config = catalog.model_config(model).params.get("sampler_config")
    pipeline = wrap_engine(engine, entry.defaults, sampler_config, name=model, device=device, watermark=watermark,
                           reference_views=reference, size_multiple=entry.size_multiple)  # fmt: skip
    place(pipeline, device, offload)
    return pipeline


def wrap_engine(
    engine: torch.nn.Module,
    sampling: Mapping[str, Any],
    sampler_config: Any = None,
    *,
    name: str = "model",
    device: torch.device | str | None = None,
    watermark: bool = True,
    reference_views: Pipeline | None = None,
    size_multiple: int | None = None,
) -> Pipeline:
    """The pipeline for a loaded engine, its `sampling` defaults and (video models) its config's `sampler_config`:
    an ImagePipeline, or the video pipeline of the defaults' task."""
    task = sampling["task"]
    if task not in VIDEO_PIPELINES:
        return ImagePipeline(engine, name=name, defaults=sampling, size_multiple=size_multiple, watermark=watermark)
    extra = {"reference_views": reference_views} if task == "video2views" else {}
    return VIDEO_PIPELINES[task](
        engine, sampler_config, sampling, name=name, device=device, watermark=watermark, **extra
    )


def build_pipeline(
    config: Any,
    *,
    name: str = "model",
    device: str | torch.device | None = None,
    checkpoint: Any = None,
    **options: Any,
):
    """The pipeline of a full config (tests' tiny models) with freshly initialized weights, or those of `checkpoint`
    (a file or a state dict with the config's layout, loaded strictly); `options` as `wrap_engine`'s. Not optimized
    for inference, so a test may still change its weights. On `device="meta"` every tensor is shape-only, as the
    memory planner builds catalog models."""
    from sgm.core.checkpoint.empty import empty_parameters
    from sgm.core.config import instantiate

    config = OmegaConf.create(config)
    model = OmegaConf.to_container(config.model, resolve=True)
    model["params"].pop("sampler_config", None)
    device = check_device(device)
    with empty_parameters() if device.type == "meta" else contextlib.nullcontext():
        engine = instantiate(model)
    if checkpoint is not None:
        load_checkpoint_into(engine, checkpoint)
    engine = engine.to(device)
    sampling = OmegaConf.to_container(config.sampling, resolve=True)
    sampler_config = config.model.params.get("sampler_config")
    return wrap_engine(engine.eval(), sampling, sampler_config, name=name, device=device, **options)
