"""`sgm inspect FILE`: which models a checkpoint file fits, or, for a LoRA file, its format and the models it fits."""

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="tell which model(s) a checkpoint or LoRA file fits",
        description="Read a checkpoint's keys and shapes (for .safetensors only the header) and print the catalog "
        "models it fits; when none fits, the closest one with its missing and unexpected keys by prefix. A LoRA file: "
        "its format (kohya, diffusers-peft, ...) and the models whose layers it matches, with how many.",
    )
    parser.add_argument("file", metavar="FILE", help="a .safetensors checkpoint (.ckpt/.pt with --allow-pickle)")
    parser.add_argument("--allow-pickle", action="store_true", help="also read pickled torch files (.ckpt, .pt)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sgm.core.checkpoint import rank_models, read_layout
    from sgm.core.lora import describe_lora, is_lora_file
    from sgm.pipelines.catalog import catalog_layouts, official_file_names

    file_layout = read_layout(args.file, allow_pickle=args.allow_pickle)  # an unreadable file fails here, fast
    layouts, unavailable = catalog_layouts()
    if args.file.lower().endswith(".safetensors") and is_lora_file(args.file):
        print("\n".join(describe_lora(args.file, layouts).summary()))
        _print_unavailable(unavailable)
        return 0
    ranked = rank_models(args.file, layouts, file_names=official_file_names(), allow_pickle=args.allow_pickle)
    fits = [match.name for match in ranked if match.diff.fits]
    print(f"{args.file}: {len(file_layout)} tensors")
    if fits:
        print(f"fits: {', '.join(fits)}")
    elif ranked:
        closest = ranked[0]
        print(f"fits no known model; closest: {closest.name} ({closest.diff.problems} differences)")
        for line in closest.diff.summary():
            print(f"  {line}")
    _print_unavailable(unavailable)
    return 0


def _print_unavailable(unavailable: dict[str, str]) -> None:
    if unavailable:
        print(f"not compared (model code not installed): {', '.join(unavailable)}")
