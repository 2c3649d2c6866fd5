"""`sgm sample`: check the options against the model, then hand a SampleRequest to the model's pipeline."""

import argparse
import importlib
from pathlib import Path

from sgm_cli.commands import video_options

ATTENTION_BACKENDS = ("auto", "triton", "sdpa", "xformers", "math")  # sgm.kernels.backend.BACKENDS
DTYPES = ("fp16", "bf16", "fp32", "fp64")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "sample",
        help="generate images (or videos) with a model; with no options, the embedded digits model",
        description="Generate with a catalog model. Unset options take the model's defaults (`sgm models`); "
        "outputs are numbered PNGs under ./outputs/<model>/ that never overwrite earlier ones.",
    )
    add = parser.add_argument
    add("--model", default="digits", help="model name from `sgm models` (default: digits)")
    add("--prompt", default="", help="what to generate (text models)")
    add("--negative-prompt", default="", help="what to steer away from (text models with guidance)")
    add("--steps", type=int, help="sampling steps (default: the model's)")
    add("--cfg", type=float, help="classifier-free guidance scale; 1 or less means no guidance (video: the "
        "per-frame ramp's highest scale)")
    add("--sampler", help="sampler name, e.g. EulerEDMSampler, DPMPP2MSampler, EulerAncestralSampler")
    add("--discretization", help="noise schedule: LegacyDDPMDiscretization, EDMDiscretization or "
        "TurboSubstepDiscretization (default: the model's)")
    add("--seed", type=int, help="random seed (default: the model's)")
    add("--width", type=int, help="image width in pixels, a multiple of the model's size step")
    add("--height", type=int, help="image height in pixels, a multiple of the model's size step")
    add("--num", type=int, default=1, help="number of images (default: 1)")
    add("--init-image", type=Path, help="start from this image (img2img), or the input image of video models")
    add("--strength", type=float, help="img2img strength in (0, 1]: how much of the image is re-noised")
    add("--refiner", help="refine with this model afterwards, e.g. sdxl-refiner")
    add("--refiner-strength", type=float, help="share of the schedule the refiner samples, in (0, 1]")
    add("--ckpt", type=Path, help="checkpoint file (default: the official name in ./checkpoints)")
    add("--device", help="torch device, e.g. cuda, cuda:1, cpu (default: cuda when available)")
    add("--dtype", choices=DTYPES, help="weights dtype (default: the model's)")
    add("--output", type=Path, help="output folder (default: ./outputs/<model>)")
    add("--no-watermark", action="store_true", help="do not embed the invisible watermark")
    add("--class", dest="class_label", type=int, help="class label of class-conditional models (digits: 0-9)")
    add("--allow-pickle", action="store_true", help="allow pickled .ckpt/.pt checkpoints (read weights-only)")
    add("--attention", choices=ATTENTION_BACKENDS, help="attention kernel backend for the whole model")
    video_options.add_arguments(parser)
    parser.set_defaults(run=run)


def _positive(name: str, value, *, upper: float | None = None) -> None:
    from sgm.core.errors import SgmError

    if value is None:
        return
    if not value > 0 or (upper is not None and value > upper):
        bound = f" and at most {upper}" if upper is not None else ""
        raise SgmError(f"--{name} must be more than 0{bound}, got {value}")


def _check_size(entry, width: int | None, height: int | None) -> None:
    from sgm.core.errors import SgmError

    for name, value in (("width", width), ("height", height)):
        if value is not None and (value <= 0 or value % entry.size_multiple):
            raise SgmError(f"--{name} {value}: {entry.name} needs a positive multiple of {entry.size_multiple}")


def _check_sampling(entry, args: argparse.Namespace) -> None:
    from sgm.core.pipelines.sampler_settings import SamplerSettings

    options = dict(entry.defaults)
    chosen = {"steps": args.steps, "cfg": args.cfg, "sampler": args.sampler, "discretization": args.discretization}
    options.update({key: value for key, value in chosen.items() if value is not None})
    if args.cfg is not None:
        options.pop("guidance", None)
    SamplerSettings.from_options(options)  # unknown names and bad numbers are an SgmError listing what is valid


def _pipeline_function(entry):
    from sgm.core.errors import SgmError

    module_name, _, function_name = entry.pipeline.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name, None)
    except ModuleNotFoundError as error:
        function, module_name = None, f"{module_name} ({error.name} is not installed)"
    if function is None:
        raise SgmError(f"sampling {entry.name} needs {entry.pipeline}, which this install does not provide yet")
    return function


def build_request(args: argparse.Namespace):
    """The checked request; every problem a user can fix is an SgmError before any model loads or file is written."""
    from sgm.core import catalog
    from sgm.core.errors import SgmError
    from sgm.core.pipelines.request import SampleRequest
    from sgm.core.watermark import read_image

    entry = catalog.get_entry(args.model)
    options = video_options.request_options(entry, args)  # before any other check: flags the model has no use for
    _positive("steps", args.steps)
    _positive("num", args.num)
    _positive("strength", args.strength, upper=1.0)
    _positive("refiner-strength", args.refiner_strength, upper=1.0)
    _check_size(entry, args.width, args.height)
    _check_sampling(entry, args)
    if args.class_label is not None and entry.task != "class2img":
        raise SgmError(f"--class is for class-conditional models; {entry.name} is a {entry.task} model")
    if entry.task in ("img2video", "img2orbit", "video2views") and args.init_image is None:
        raise SgmError(f"{entry.name} generates from an input: pass it with --init-image PATH")
    if args.init_image is not None and entry.task != "video2views":
        read_image(args.init_image)  # unreadable or missing: one clear line
    if args.init_image is not None and entry.task == "video2views" and not args.init_image.is_file():
        raise SgmError(f"input video not found: {args.init_image}")
    refiner_ckpt = None
    if args.refiner is not None:
        refiner = catalog.get_entry(args.refiner)
        if refiner.task != "img2img":
            raise SgmError(f"--refiner {refiner.name} is a {refiner.task} model, not a refiner")
        refiner_ckpt = catalog.find_checkpoint(refiner.name)
    ckpt = catalog.find_checkpoint(entry.name, args.ckpt)
    return SampleRequest(
        model=entry.name, output=args.output or Path("outputs") / entry.name, prompt=args.prompt,
        negative_prompt=args.negative_prompt, steps=args.steps, cfg=args.cfg, sampler=args.sampler,
        discretization=args.discretization, seed=args.seed, width=args.width, height=args.height, num=args.num,
        init_image=args.init_image, strength=args.strength, refiner=args.refiner,
        refiner_strength=args.refiner_strength, refiner_ckpt=refiner_ckpt, ckpt=ckpt, device=args.device,
        dtype=args.dtype, watermark=not args.no_watermark, class_label=args.class_label,
        allow_pickle=args.allow_pickle, attention=args.attention, options=options,
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from sgm.core import catalog

    request = build_request(args)
    pipeline = _pipeline_function(catalog.get_entry(request.model))
    from sgm.kernels.backend import default_backend, use_backend

    with use_backend(request.attention or default_backend()):  # one switch for every attention and norm call
        paths = pipeline(request) or []
    for path in paths:
        print(path)
    return 0
