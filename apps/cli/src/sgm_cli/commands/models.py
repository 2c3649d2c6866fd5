"""`sgm models`: the catalog, and whether each checkpoint is on this machine."""

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the models, their official checkpoint files and where to get them",
        description="List every model sgm knows: name, task, official checkpoint file, where to download it, and "
        "whether the file is present locally (in ./checkpoints or $SGM_CHECKPOINT_DIR).",
    )
    parser.set_defaults(run=run)


def table_rows() -> list[tuple[str, ...]]:
    from sgm.pipelines import catalog

    rows = [("NAME", "TASK", "FILE", "WHERE TO GET IT", "PRESENT")]
    for entry in catalog.CATALOG.values():
        present = "yes" if catalog.local_checkpoint(entry.name) is not None else "no"
        rows.append((entry.name, entry.task, entry.file, entry.source, present))
    return rows


def run(args: argparse.Namespace) -> int:
    from sgm.pipelines import catalog

    rows = table_rows()
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    print(f"\ncheckpoint folder: {catalog.checkpoint_dir().resolve()}")
    return 0
