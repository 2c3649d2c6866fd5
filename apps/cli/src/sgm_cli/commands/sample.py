"""`sgm sample`: the options become one `sgm.pipelines.Request`, which the pipelines check and run."""

import argparse
from pathlib import Path
from typing import Any

from sgm_cli import batch

ATTENTION_BACKENDS = ("auto", "triton", "sdpa", "xformers", "math")  # sgm.kernels.backend.BACKENDS
DTYPES = ("fp16", "bf16", "fp32", "fp64")
OFFLOAD_MODES = ("none", "model", "sequential")  # sgm.pipelines.offloading.OFFLOAD_MODES
# Video flags whose --help lists each model's default (from the models' `sampling:` blocks).
DEFAULTS_IN_HELP = ("num_frames", "fps", "motion_bucket_id", "cond_aug", "min_cfg", "encoding_t", "decoding_t",
                    "img_size")  # fmt: skip


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "sample",
        help="generate images (or videos) with a model; with no options, the embedded digits model",
        description="Generate with a catalog model. Unset options take the model's defaults (`sgm models NAME`); "
        "outputs are numbered PNGs (or videos) under ./outputs/<model>/ that never overwrite earlier ones. An option "
        "the model has no use for is refused.",
    )
    add_sample_arguments(parser)
    parser.set_defaults(run=run)


def add_sample_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that describe a request (`sgm sample`'s, which `sgm plan` takes too)."""
    add = parser.add_argument
    add("--model", help="model name from `sgm models` (default: digits)")
    add("--prompt", help="what to generate (text models); longer than 77 tokens and AUTOMATIC1111's (word:1.2) "
        "weighting work")
    add("--negative-prompt", help="what to steer away from (text models with guidance)")
    add("--from-png", type=Path, metavar="FILE", help="repeat the result in FILE: its settings (sgm's PNG keys, or "
        "AUTOMATIC1111's parameters text) with the options given here changing them")
    add("--steps", type=int, help="sampling steps (default: the model's)")
    add("--cfg", type=float, help="classifier-free guidance scale; 1 or less means no guidance (video: the "
        "per-frame ramp's highest scale)")
    add("--sampler", help="sampler: ComfyUI's names (euler, euler_a, heun, dpm_2, dpm_2_a, lms, dpmpp_2m, "
        "dpmpp_2m_sde, dpmpp_3m_sde, ...), AUTOMATIC1111's labels (\"DPM++ 2M Karras\" also picks its schedule) or a "
        "class name such as EulerEDMSampler (default: the model's)")
    add("--discretization", "--scheduler", help="noise schedule: karras, exponential, sgm_uniform, normal, or "
        "LegacyDDPMDiscretization, EDMDiscretization, TurboSubstepDiscretization (default: the model's)")
    add("--seed", type=int, help="random seed, 0 to 2^32 - 1 (default: the model's)")
    add("--width", type=int, help="image width in pixels, a multiple of the model's size step")
    add("--height", type=int, help="image height in pixels, a multiple of the model's size step")
    add("--num", type=int, help="number of images (default: 1)")
    add("--init-image", type=Path, help="start from this image (img2img)")
    add("--strength", type=float, help="img2img strength in (0, 1]: how much of the image is re-noised")
    add("--mask", type=Path, help="inpaint: repaint only where this image is white (black keeps the init image); "
        "the init image's shape, resized to it")
    add("--refiner", help="refine with this model afterwards, e.g. sdxl-refiner")
    add("--refiner-strength", type=float, help="share of the schedule the refiner samples, in (0, 1]")
    add("--class", dest="class_label", type=int, help="class label of class-conditional models (digits: 0-9)")
    add("--lora", dest="loras", action="append", metavar="FILE[:WEIGHT]", help="apply a LoRA .safetensors file "
        "(a path, or a name in ./loras or $SGM_LORA_DIR) with a weight (default 1); repeatable")
    add("--lora-merge", action="store_true", help="merge the LoRAs into the weights: faster sampling, fixed until "
        "the model is loaded again (default: side layers)")
    add("--ckpt", type=Path, help="checkpoint file (default: the official name in ./checkpoints)")
    add("--device", help="torch device, e.g. cuda, cuda:1, cpu (default: cuda when available)")
    add("--dtype", choices=DTYPES, help="weights dtype (default: bf16 on CUDA, fp32 on the CPU; autoencoders stay "
        "fp32 in half precision)")
    add("--output", type=Path, help="output folder (default: ./outputs/<model>)")
    add("--no-watermark", action="store_true", help="do not embed the invisible watermark")
    add("--allow-pickle", action="store_true", help="allow pickled .ckpt/.pt checkpoints (read weights-only)")
    add("--attention", choices=ATTENTION_BACKENDS, help="attention kernel backend for the whole model")
    add("--compile", choices=("auto", "none", "graphs", "compile"), help="how sampling calls the network: graphs "
        "(replayed from a CUDA graph), compile (torch.compile of the repeated blocks), none (eager); default auto: "
        "graphs on CUDA, none on the CPU")
    _add_memory_arguments(parser)
    _add_video_arguments(parser)
    batch.add_arguments(parser)
    parser.set_defaults(run=run)


def _add_memory_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("memory (default: chosen by the memory plan, `sgm plan`, to fit --vram)")
    add = group.add_argument
    add("--offload", choices=OFFLOAD_MODES, help="none: every weight on the device; model: each component (text "
        "encoders, UNet, VAE) on the device only while it runs; sequential: the UNet's blocks streamed one by one")
    add("--split-guidance", action=argparse.BooleanOptionalAction, default=None, help="call the network once on "
        "the unconditional and once on the conditional half of the guidance batch instead of once on both: about "
        "half a sampling step's activation memory for a little speed, the same result")
    add("--vae-tiling", action=argparse.BooleanOptionalAction, default=None, help="decode images in overlapping "
        "tiles (less memory, a small blend at the seams)")
    add("--vram", type=float, metavar="GB", help="device memory to fit in, in GB of 2^30 bytes (default: the "
        "device's free memory; on the CPU, no limit)")


def _add_video_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("video models (svd*, sv3d-*, sv4d*)")
    add = group.add_argument
    add("--input", "--input-path", type=Path, help="the input: an image (svd, sv3d), a video, a folder of frames or "
        "a pattern such as 'frames/*.png' (sv4d)")
    add("--num-frames", type=int, help="frames to generate (SVD, SV3D), or input frames to use (SV4D)" +
        _defaults_text("num_frames"))
    add("--fps", type=int, help="frame rate the video is conditioned on and written at (SVD)" + _defaults_text("fps"))
    add("--motion-bucket-id", type=int, help="amount of motion, 0-1023, more with higher values (SVD)" +
        _defaults_text("motion_bucket_id"))
    add("--cond-aug", type=float, help="noise added to the conditioning image (SVD, SV3D)" +
        _defaults_text("cond_aug"))
    add("--min-cfg", type=float, help="guidance scale at the low end of the per-frame ramp (--cfg is the high end)" +
        _defaults_text("min_cfg"))
    add("--elevations-deg", type=float, nargs="+", metavar="DEG", help="camera elevation(s) in degrees: one value, "
        "or one per view (21 for sv3d-p); default: sv3d-p and sv4d 10, sv4d2 0 (not for svd, sv3d-u)")
    add("--azimuths-deg", type=float, nargs="+", metavar="DEG", help="camera azimuths in degrees, one per view (21 "
        "for sv3d-p), going round in increasing order and ending at the input view; default: an even orbit")
    add("--encoding-t", type=int, help="frames the VAE encodes at once; lower saves memory (SV4D)" +
        _defaults_text("encoding_t"))
    add("--decoding-t", type=int, help="frames (video) or images of a batch (image models: encoding too) the VAE "
        "decodes at once; lower saves memory, the same result; chosen to fit when not given" +
        _defaults_text("decoding_t"))
    add("--img-size", type=int, help="square frame size in pixels (SV3D, SV4D)" + _defaults_text("img_size"))
    add("--remove-bg", action="store_true", default=None, help="cut the object out with rembg first (needs its "
        "model file in $U2NET_HOME offline)")
    add("--image-frame-ratio", type=float, help="fraction of the frame the centred object spans, in (0, 1]")
    add("--format", choices=("mp4", "gif", "frames"), help="video output: mp4 (default), gif or frames (a folder "
        "of PNGs per video)")


def _defaults_text(key: str) -> str:
    """`; default: 14 (svd, svd-image-decoder), 25 (svd-xt, ...)` from the models' sampling blocks."""
    from sgm.pipelines.catalog import CATALOG

    by_value: dict[Any, list[str]] = {}
    for entry in CATALOG.values():
        value = entry.defaults.get(key) if entry.is_video else None
        if value is not None:
            by_value.setdefault(value, []).append(entry.name)
    return "; default: " + ", ".join(f"{value} ({', '.join(names)})" for value, names in by_value.items())


def build_request(args: argparse.Namespace):
    """The `Request` the options describe (checked by the pipelines before anything loads); with --from-png, the
    file's settings with the options given changing them."""
    from sgm.core.lora import parse_lora_spec
    from sgm.pipelines import Request
    from sgm.pipelines.from_png import request_from_png

    fields = dict(
        model=args.model, output=args.output, prompt=args.prompt, negative_prompt=args.negative_prompt,
        class_label=args.class_label, init_image=args.init_image, strength=args.strength, mask=args.mask,
        refiner=args.refiner, refiner_strength=args.refiner_strength, input=args.input, num=args.num, seed=args.seed,
        steps=args.steps, cfg=args.cfg, min_cfg=args.min_cfg, sampler=args.sampler, discretization=args.discretization,
        width=args.width, height=args.height, img_size=args.img_size, num_frames=args.num_frames, fps=args.fps,
        motion_bucket_id=args.motion_bucket_id, cond_aug=args.cond_aug,
        elevations_deg=_one_or_many(args.elevations_deg), azimuths_deg=_one_or_many(args.azimuths_deg, keep=True),
        remove_bg=args.remove_bg, image_frame_ratio=args.image_frame_ratio, encoding_t=args.encoding_t,
        decoding_t=args.decoding_t, format=args.format, ckpt=args.ckpt, device=args.device, dtype=args.dtype,
        attention=args.attention, compile=args.compile, offload=args.offload, split_guidance=args.split_guidance,
        vae_tiling=args.vae_tiling, vram=args.vram,
        loras=tuple(parse_lora_spec(spec) for spec in args.loras) if args.loras else None,
    )  # fmt: skip
    given = {key: value for key, value in fields.items() if value is not None}
    flags = {"watermark": not args.no_watermark, "allow_pickle": args.allow_pickle, "lora_merge": args.lora_merge}
    if args.from_png is not None:
        return request_from_png(args.from_png, given).replace(**flags)
    return Request(**given, **flags)


def _one_or_many(values: list[float] | None, *, keep: bool = False):
    if values is None:
        return None
    return tuple(values) if keep or len(values) > 1 else values[0]


def run(args: argparse.Namespace) -> int:
    from sgm.pipelines import run as run_request

    if args.prompts is not None or args.devices is not None or args.num_nodes is not None:
        return batch.run(args, build_request(args))
    for path in run_request(build_request(args)):
        print(path)
    return 0
