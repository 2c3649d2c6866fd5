"""`sgm plan`: the memory each stage of a generation needs and the runtime options chosen to fit, without loading
anything (the model is built on the meta device: no checkpoint, no memory)."""

import argparse
import json

from sgm_cli.commands import sample


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="the memory each stage needs and the options (offloading, guidance split, VAE chunks or tiles) chosen "
        "to fit",
        description="Plan a generation's device memory: per stage (conditioning, VAE encode, one sampling step with "
        "its guidance batch, VAE decode) the weights on the device, the activations and the peak, computed by "
        "running the model's real modules on shape-only tensors. Takes the options of `sgm sample`; the fastest "
        "options that fit --vram (default: the device's free memory; on the CPU, no limit) are chosen. On a machine "
        "without a GPU, --device cuda --vram GB plans for one.",
    )
    sample.add_sample_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object: model, peak_bytes, fits, "
                        "settings, stages")  # fmt: skip
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from sgm.core.errors import SgmError
    from sgm.pipelines import plan
    from sgm.pipelines.loading import default_dtype

    request = sample.build_request(args)
    if _gpu_elsewhere(request.device):
        # Planning loads nothing, so a GPU's plan can be made here; its budget cannot be read, so it must be given.
        if request.vram is None:
            raise SgmError(f"this machine has no CUDA device to read the free memory of: give --vram GB to plan "
                           f"for {request.device}")  # fmt: skip
        dtype = request.dtype or default_dtype(torch.device("cuda"))  # what a run there would load
        chosen = plan(request.replace(device="cpu", dtype=dtype), target="cuda")
    else:
        chosen = plan(request)
    print(json.dumps(chosen.as_json()) if args.json else chosen.table())
    return 0


def _gpu_elsewhere(device: str | None) -> bool:
    """Whether `device` names CUDA on a machine without it."""
    import torch

    return device is not None and device.startswith("cuda") and not torch.cuda.is_available()
