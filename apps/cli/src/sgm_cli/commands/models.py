"""`sgm models [NAME]`: the catalog and whether each checkpoint is on this machine, or one model's files, defaults
and options."""

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the models, their official checkpoint files and where to get them; or one model's details",
        description="List every model sgm knows: name, task, official checkpoint file, where to download it, and "
        "whether the file is present locally (in ./checkpoints or $SGM_CHECKPOINT_DIR, or in the Hugging Face "
        "cache). With a NAME: that model's files, its defaults (its config's sampling block) and the `sgm sample` "
        "options it takes.",
    )
    parser.add_argument("name", nargs="?", help="a model name: show its files, defaults and options")
    parser.set_defaults(run=run)


def table_rows() -> list[tuple[str, ...]]:
    from sgm.pipelines import catalog

    rows = [("NAME", "TASK", "FILE", "WHERE TO GET IT", "PRESENT")]
    for entry in catalog.CATALOG.values():
        present = "yes" if catalog.local_checkpoint(entry.name) is not None else "no"
        rows.append((entry.name, entry.task, entry.file, entry.source, present))
    return rows


def model_lines(name: str) -> list[str]:
    """One model: files and where they are looked up, defaults, and the sample options its task takes."""
    from sgm.pipelines import TASK_FIELDS, catalog
    from sgm.pipelines.hf_cache import describe_cache

    entry = catalog.get_entry(name)
    found = catalog.local_checkpoint(entry.name)
    lines = [f"{entry.name} ({entry.task})", f"  files: {', '.join(entry.files)}",
             f"  found: {found}" if found else
             f"  found: no (looked in {catalog.checkpoint_dir().resolve()} and {describe_cache()})",
             f"  download: {entry.source}", f"  config: {entry.config.location()}", "  defaults:"]  # fmt: skip
    lines += [f"    {key}: {value}" for key, value in entry.defaults.items() if key != "task"]
    options = sorted(TASK_FIELDS[entry.task] | {"seed", "steps", "cfg"})
    lines.append("  options: " + " ".join("--" + _flag(option) for option in options))
    return lines


def _flag(field: str) -> str:
    return {"class_label": "class"}.get(field, field.replace("_", "-"))


def run(args: argparse.Namespace) -> int:
    from sgm.pipelines import catalog
    from sgm.pipelines.hf_cache import describe_cache

    if args.name is not None:
        print("\n".join(model_lines(args.name)))
        return 0
    rows = table_rows()
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    print(f"\ncheckpoint folder: {catalog.checkpoint_dir().resolve()}; Hugging Face cache: {describe_cache()}")
    return 0
