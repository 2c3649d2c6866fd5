"""The sgm training entry point: `uv run apps/train --base a.yaml b.yaml [key=value ...]`."""

from sgm_train_app.cli import main

__all__ = ["main"]
