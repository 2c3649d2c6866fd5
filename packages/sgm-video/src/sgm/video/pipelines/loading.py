"""Building a video pipeline from a catalog name (or a config) and a checkpoint, and the entry the CLI calls."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from sgm.core.config import instantiate
from sgm.core.errors import SgmError
from sgm.video.pipelines.base import VideoPipeline
from sgm.video.pipelines.image_to_video import ImageToVideoPipeline
from sgm.video.pipelines.video_to_4d import VideoTo4DPipeline

PIPELINES = {
    "image_to_video": ImageToVideoPipeline,
    "orbit": ImageToVideoPipeline,
    "orbit_posed": ImageToVideoPipeline,
    "video_to_4d": VideoTo4DPipeline,
}
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def model_config(name: str) -> DictConfig:
    """The full config (`model` and `sampling`) of a catalog model shipped by sgm.video."""
    from sgm.core.catalog import get_entry

    return OmegaConf.create(get_entry(name).config.open_text())


def build_pipeline(
    config: DictConfig | Mapping,
    *,
    name: str = "model",
    checkpoint: str | Path | Mapping[str, torch.Tensor] | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    offload: bool = True,
    progress: bool = True,
) -> VideoPipeline:
    """The pipeline of `config` (`model` + `sampling`): the engine built without its sampler, `checkpoint` (a file
    or state dict with the official layout) loaded strictly, the network cast to `dtype` ("fp16", "bf16")."""
    config = OmegaConf.create(config) if not isinstance(config, DictConfig) else config
    sampling = OmegaConf.to_container(config.sampling, resolve=True)
    kind = sampling.get("pipeline")
    if kind not in PIPELINES:
        raise SgmError(f"{name}: sampling.pipeline must be one of {', '.join(PIPELINES)}, got {kind!r}")
    model = OmegaConf.to_container(config.model, resolve=True)
    sampler_config = model["params"].pop("sampler_config")
    model["params"].pop("ckpt_path", None)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    network_dtype = DTYPES.get(dtype, dtype) if isinstance(dtype, str) else dtype
    if network_dtype is not None and network_dtype not in DTYPES.values():
        raise SgmError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if checkpoint is None:
        engine = instantiate(model)
    else:
        from sgm.core.checkpoint import empty_parameters, load_checkpoint_into

        with empty_parameters():
            engine = instantiate(model)
        if network_dtype is not None:  # cast while empty: the file's tensors load straight into it, no fp32 copy
            engine.model.to(network_dtype)
        load_checkpoint_into(engine, checkpoint)
    if network_dtype is not None:
        engine.model.to(network_dtype)
    return PIPELINES[kind](
        engine, sampler_config, sampling, name=name, device=device, offload=offload, progress=progress
    )


def load_pipeline(
    name: str,
    ckpt: str | Path | None = None,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    offload: bool = True,
) -> VideoPipeline:
    """The pipeline of catalog model `name` with its checkpoint (`ckpt`, else found by the catalog)."""
    from sgm.core.catalog import find_checkpoint

    checkpoint = find_checkpoint(name, ckpt)
    return build_pipeline(model_config(name), name=name, checkpoint=checkpoint, device=device, dtype=dtype,
                          offload=offload)  # fmt: skip


# Request option names that a pipeline method calls differently.
METHOD_NAMES = {"video_to_4d": {"num_frames": "n_frames"}, "orbit": {"img_size": "size"},
                "orbit_posed": {"img_size": "size"}}  # fmt: skip
REQUEST_FIELDS = ("steps", "cfg", "width", "height")  # SampleRequest fields the video pipelines take
ORBIT_FPS = 10  # the reference scripts write orbits and 4D views at 10 frames per second


def run(request: Any) -> list[Path]:
    """The CLI's entry (`catalog.ModelEntry.pipeline`): sample what `request` asks and write the outputs.

    `request` (a SampleRequest or a mapping) has `model`, `input` (a path), `output` (a folder), `seed`, `steps`,
    `cfg`, `width`, `height`, optional `ckpt`, `device`, `dtype`, and `options`: the model-specific extras of
    sgm.video.pipelines.options.OPTIONS_BY_KIND (num_frames, fps, motion_bucket_id, cond_aug, min_cfg,
    elevations_deg, azimuths_deg, encoding_t, decoding_t, img_size, remove_bg, image_frame_ratio, format).
    Everything is checked before the model loads. Returns the written paths.
    """
    from sgm.video.io import load_frames, write_frames
    from sgm.video.pipelines.options import check_request

    get = request.get if isinstance(request, Mapping) else lambda key, default=None: getattr(request, key, default)
    name, source = get("model"), get("input")
    options = {key: value for key, value in (get("options") or {}).items() if value is not None}
    options.update({key: get(key) for key in REQUEST_FIELDS if get(key) is not None})
    sampling = OmegaConf.to_container(model_config(name).sampling, resolve=True)
    check_request(sampling, source, options, name)

    pipeline = load_pipeline(name, get("ckpt"), device=get("device"), dtype=get("dtype"))
    pipeline.set_guidance(options.pop("cfg", None), options.pop("min_cfg", None))
    output, fmt = Path(get("output") or "outputs"), options.pop("format", "mp4")
    seed = get("seed") if get("seed") is not None else 23
    kind = sampling["pipeline"]
    kwargs = {METHOD_NAMES.get(kind, {}).get(key, key): value for key, value in options.items()}
    stem = f"{name}-{seed}"
    if kind == "video_to_4d":
        videos = pipeline.video_to_4d(str(source), seed=seed, **kwargs)
        return [
            write_frames(v, output, f"{stem}-view{i + 1:02d}", fmt=fmt, fps=ORBIT_FPS) for i, v in enumerate(videos)
        ]
    image = load_frames(source, max_frames=1)[0]
    if kind == "image_to_video":
        frames = pipeline.image_to_video(image, seed=seed, **kwargs)
        fps = int(options.get("fps") or sampling["fps"])
    else:
        frames = pipeline.image_to_orbit(image, seed=seed, **kwargs)
        fps = ORBIT_FPS
    return [write_frames(frames, output, stem, fmt=fmt, fps=fps)]
