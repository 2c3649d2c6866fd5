"""Regenerate the layouts shipped with sgm-core (`sgm/core/configs/layouts/<layout>.json.gz`), so `inspect` and
`match_models` need not build every model: `uv run python -m sgm.core.checkpoint.shipped`. A test keeps them equal
to the layouts of the models as built from their configs."""

import gzip
import json
from pathlib import Path

from sgm.core.checkpoint.layouts import layout_of

LAYOUT_DIR = Path(__file__).resolve().parents[1] / "configs" / "layouts"


def write_shipped_layouts(directory: Path = LAYOUT_DIR) -> list[Path]:
    """Build each catalog layout once (on the meta device) and write it gzipped; returns the files written."""
    from sgm.core import catalog

    directory.mkdir(parents=True, exist_ok=True)
    written, done = [], set()
    for entry in catalog.CATALOG.values():
        if entry.layout in done:
            continue
        done.add(entry.layout)
        layout = layout_of(catalog.build_model(entry.name, device="meta"))
        path = directory / f"{entry.layout}.json.gz"
        with gzip.GzipFile(path, "wb", mtime=0) as file:  # mtime 0: same layout, same bytes
            file.write(json.dumps(layout, separators=(",", ":"), sort_keys=True).encode())
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_shipped_layouts():
        print(written_path)
