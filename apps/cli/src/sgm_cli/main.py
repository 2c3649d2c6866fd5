"""Argument parsing and the one place user errors become `sgm: error: <message>` and exit status 2."""

import argparse
import os
import sys
from collections.abc import Sequence

from sgm_cli.commands import detect, inspect, layout, models, plan, sample

COMMANDS = (sample, plan, models, layout, inspect, detect)
USAGE_ERROR = 2
LIBRARIES = ("sgm-pipelines", "sgm-video", "sgm-core", "sgm-kernels", "torch")  # versions --version shows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sgm",
        description="Sample Stability AI's generative models (SD 2.1, SDXL, SVD, SV3D, SV4D) and inspect checkpoints.",
        epilog="Checkpoints are looked up in ./checkpoints (or $SGM_CHECKPOINT_DIR) under their official names; "
        "`sgm models` lists them and where to download each.",
    )
    parser.add_argument("--version", action=_PrintVersion, help="print the versions of sgm and its libraries")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


class _PrintVersion(argparse.Action):
    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())  # unwrapped, unlike argparse's own version action
        parser.exit()


def version_text() -> str:
    """`sgm-cli 0.1.0 (sgm-pipelines 0.1.0, sgm-core 0.1.0, torch 2.x)`: the versions a bug report needs."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return f"{name} {version(name)}"
        except PackageNotFoundError:
            return f"{name} (not installed)"

    return f"{installed('sgm-cli')} ({', '.join(installed(name) for name in LIBRARIES)})"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 2 bad input, 130 interrupted, 141 output closed early)."""
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
    except BrokenPipeError:  # `sgm layout sdxl-base | head`: the reader has what it wanted
        _silence_stdout()
        return 128 + 13  # as if ended by SIGPIPE, as `cat` is


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush does not fail a second time and print a traceback."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
