"""Regenerate the layouts each package ships beside its model configs (`configs/layouts/<layout>.json.gz`), so
`inspect` and checkpoint matching need not build every model: `uv run python -m sgm.pipelines.shipped_layouts`.
A test keeps them equal to the layouts of the models as built from their configs."""

import gzip
import json
from pathlib import Path

from sgm.core.checkpoint.layouts import layout_of
from sgm.pipelines import catalog


def write_shipped_layouts() -> list[Path]:
    """Build each catalog layout once (on the meta device) and write it gzipped beside its config; returns the files
    written. Only packages installed as files (the workspace) can be written."""
    written, done = [], set()
    for entry in catalog.CATALOG.values():
        if entry.layout in done:
            continue
        done.add(entry.layout)
        config = entry.config.local_path()
        if config is None:
            continue
        layout = layout_of(catalog.build_model(entry.name, device="meta"))
        path = config.parent.parent / "layouts" / f"{entry.layout}.json.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.GzipFile(path, "wb", mtime=0) as file:  # mtime 0: same layout, same bytes
            file.write(json.dumps(layout, separators=(",", ":"), sort_keys=True).encode())
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_shipped_layouts():
        print(written_path)
