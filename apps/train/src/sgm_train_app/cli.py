"""Command line: configs merged left to right, `key=value` overrides, run naming, resuming and step limits."""

import argparse
import logging
import sys

from sgm.core.config import ConfigError
from sgm.core.errors import SgmError

EXAMPLES = """examples:
  uv run apps/train --base apps/train/configs/toy/digits.yaml
  uv run apps/train --base a.yaml b.yaml model.base_learning_rate=2e-4 lightning.trainer.devices=2 --name exp1
  uv run apps/train --resume logs/2025-01-01T12-00-00-digits --max-steps 5000
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sgm-train",
        description="Train a diffusion model or autoencoder from reference-style YAML configs. Runs go to "
        "<logdir>/<timestamp>-<name>/ with checkpoints/, configs/, images/ and metrics/.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-b", "--base", nargs="*", default=[], metavar="CONFIG", help="YAML configs, merged left to right"
    )
    parser.add_argument("-n", "--name", help="run name (default: the first config's file name)")
    parser.add_argument("-r", "--resume", metavar="DIR_OR_CKPT", help="continue a run directory or a checkpoint in it")
    parser.add_argument(
        "--max-steps", type=int, help="stop after this many optimizer steps (lightning.trainer.max_steps)"
    )
    parser.add_argument("-l", "--logdir", default="logs", help="where run directories go (default: logs)")
    parser.add_argument("-s", "--seed", type=int, default=23, help="random seed (default: 23, as the reference)")
    parser.add_argument(
        "--scale-lr", action="store_true", help="lr = base_learning_rate * batch size * devices * accumulation"
    )
    parser.add_argument("--wandb", action="store_true", help="also log to Weights & Biases (needs wandb)")
    parser.add_argument(
        "--allow-pipe",
        action="store_true",
        help="let webdataset `pipe:` URLs run their shell command (only for configs you trust; a config cannot "
        "allow this itself)",
    )
    parser.add_argument("--threads", type=int, help="CPU threads for torch (1 is often fastest on a busy shared CPU)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is built")
    return parser


def parse(argv: list[str] | None = None):
    """The run's options (with the `key=value` overrides; anything else unknown is an error) and the parsed
    arguments."""
    from sgm.train.launch import TrainOptions

    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    overrides = [item for item in args.base if "=" in item] + [item for item in unknown if "=" in item]
    stray = [item for item in unknown if "=" not in item]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)} (config overrides look like key=value)")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    if args.max_steps is not None and args.max_steps < 1:
        parser.error(f"--max-steps must be >= 1, got {args.max_steps}")
    options = TrainOptions(
        base=[item for item in args.base if "=" not in item],
        overrides=overrides,
        name=args.name,
        resume=args.resume,
        max_steps=args.max_steps,
        logdir=args.logdir,
        seed=args.seed,
        scale_lr=args.scale_lr,
        wandb=args.wandb,
        allow_pipe=args.allow_pipe,
    )
    if options.resume and options.name:
        parser.error("--name and --resume exclude each other: a resumed run keeps its directory")
    return options, args


def main(argv: list[str] | None = None) -> int:
    options, args = parse(argv)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    from sgm.train.launch import fit

    try:
        run = fit(options)
    except (SgmError, ConfigError, FileNotFoundError, ValueError) as error:
        print(f"sgm-train: error: {error}", file=sys.stderr)
        return 2
    print(f"run directory: {run.run_dir.root}")
    return 0
