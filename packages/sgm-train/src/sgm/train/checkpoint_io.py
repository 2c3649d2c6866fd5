"""Checkpoint files that are either the old one or the new one, never half-written.

Each save goes to a temporary file beside the target, is flushed to disk (fsync), then renamed over the target with
`os.replace`, which is atomic on POSIX and Windows: a crash or SIGKILL mid-write leaves the previous checkpoint
intact (and at worst a stale temporary file, removed by the next save).
"""

import os
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from sgm.core.errors import SgmError

TEMP_MARKER = ".tmp-"


def _temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}{TEMP_MARKER}{os.getpid()}")


def _remove_stale_temps(path: Path) -> None:
    for stale in path.parent.glob(f".{path.name}{TEMP_MARKER}*"):
        stale.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """`torch.save(obj, path)`, atomically (temporary file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path)
    temp = _temp_path(path)
    try:
        with open(temp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's torch checkpoint IO with atomic local writes (pass it in `Trainer(plugins=[...])`)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)  # remote filesystems: Lightning's own writer
            return
        atomic_torch_save(checkpoint, path)


def check_checkpoint_readable(path: Path, context: str) -> None:
    """A `torch.save` file is a zip archive whose directory is written last: a truncated or foreign file has none.
    Checking that costs a few reads, where finding out in `torch.load` costs a traceback mid-start."""
    try:
        with zipfile.ZipFile(path) as archive:
            readable = any(name.endswith("/data.pkl") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError) as error:
        raise SgmError(
            f"{context}: {path} is not a readable checkpoint ({error}); it may be truncated: "
            "resume from another checkpoint of the run"
        ) from None
    if not readable:
        raise SgmError(f"{context}: {path} is not a torch checkpoint (no data.pkl inside)")
