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
        "options that fit --vram (default: the device's free memory; on the CPU, no limit) are chosen.",
    )
    sample.add_sample_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object: model, peak_bytes, fits, "
                        "settings, stages")  # fmt: skip
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sgm.pipelines import plan

    chosen = plan(sample.build_request(args))
    print(json.dumps(chosen.as_json()) if args.json else chosen.table())
    return 0
