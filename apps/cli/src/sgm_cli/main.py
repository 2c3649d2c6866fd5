"""Argument parsing and the one place user errors become `sgm: error: <message>` and exit status 2."""

import argparse
import sys
from collections.abc import Sequence

from sgm_cli.commands import detect, inspect, layout, models, plan, sample

COMMANDS = (sample, plan, models, layout, inspect, detect)
USAGE_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sgm",
        description="Sample Stability AI's generative models (SD 2.1, SDXL, SVD, SV3D, SV4D) and inspect checkpoints.",
        epilog="Checkpoints are looked up in ./checkpoints (or $SGM_CHECKPOINT_DIR) under their official names; "
        "`sgm models` lists them and where to download each.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 2 bad input, 130 interrupted)."""
    from sgm.core.errors import SgmError  # ConfigError is one too

    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except SgmError as error:
        message = " ".join(str(error).split("\n"))
        print(f"sgm: error: {message}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("sgm: interrupted", file=sys.stderr)
        return 130
