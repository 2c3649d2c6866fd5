"""Permissions for outputs written under a temporary name first: `tempfile` creates those private (0600 files,
0700 folders), so before they are published they get the modes an ordinary `open()` / `mkdir()` would give."""

import os
import re
from pathlib import Path


def current_umask() -> int:
    """The process's umask, read without changing it (os.umask can only be read by setting it, which would race
    with other threads creating files)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return 0o022
    match = re.search(r"^Umask:\s*([0-7]+)", status, re.MULTILINE)
    return int(match.group(1), 8) if match else 0o022


def make_public(path: str | Path) -> None:
    """Give a file 0666 and a folder (and the files in it) 0777, less the umask, as if created normally."""
    path, umask = Path(path), current_umask()
    if path.is_dir():
        os.chmod(path, 0o777 & ~umask)
        for child in path.iterdir():
            make_public(child)
    else:
        os.chmod(path, 0o666 & ~umask)
