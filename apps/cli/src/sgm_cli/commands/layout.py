"""`sgm layout NAME`: the model's checkpoint layout as JSON."""

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "layout",
        help="print a model's checkpoint layout {key: [shape, dtype]} as JSON",
        description="Print the checkpoint layout of a catalog model, {key: [shape, dtype]} sorted by key, as the "
        "model builds it (on the meta device: no memory, no weights needed).",
    )
    parser.add_argument("name", metavar="NAME", help="a model name from `sgm models`, e.g. sdxl-base")
    parser.set_defaults(run=run)


def format_layout(layout: dict) -> str:
    """One key per line, so layouts diff well."""
    import json

    lines = [f"{json.dumps(key)}: {json.dumps(value)}" for key, value in sorted(layout.items())]
    return "{\n" + ",\n".join(lines) + "\n}"


def run(args: argparse.Namespace) -> int:
    from sgm.pipelines import catalog

    print(format_layout(catalog.expected_layout(catalog.get_entry(args.name).name)))
    return 0
