"""Run directories: `<logdir>/<timestamp>-<name>/` holding `checkpoints/`, `configs/`, `images/` and metrics.

A new run's directory is created exclusively (two runs started in the same second get `...-name` and
`...-name-1`), so runs never share checkpoints, configs or metrics.
"""

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

from sgm.core.errors import SgmError
from sgm.train.checkpoint_io import check_checkpoint_readable

# Set by rank 0 before Lightning starts the other DDP processes (they re-run the command and must reuse the folder).
RUN_DIR_ENV = "SGM_TRAIN_RUN_DIR"
CONFIG_NAME = "config.yaml"
LAST_CHECKPOINT = "last.ckpt"


@dataclass(frozen=True)
class RunDir:
    root: Path

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def configs(self) -> Path:
        return self.root / "configs"

    @property
    def config_file(self) -> Path:
        return self.configs / CONFIG_NAME

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / LAST_CHECKPOINT

    def create(self) -> "RunDir":
        for folder in (self.root, self.checkpoints, self.configs):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    def remove_if_empty(self) -> None:
        """Undo `new_run_dir` when the run could not start: the folder goes only if nothing was written in it."""
        try:
            self.root.rmdir()
        except OSError:
            pass


def _claim(folder: Path) -> bool:
    """Create `folder`; False if it exists already (another run took the name first)."""
    try:
        folder.mkdir()
    except FileExistsError:
        return False
    except OSError as error:
        raise SgmError(f"cannot create the run directory {folder}: {error.strerror}") from None
    return True


def is_rank_zero() -> bool:
    """Whether this is the process that owns the run directory (DDP children and other nodes are not)."""
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"


def new_run_dir(logdir: str | Path, name: str) -> RunDir:
    """A new, empty `<logdir>/<YYYY-mm-ddTHH-MM-SS>-<name>` (with `-1`, `-2`, ... when that is taken), created
    here; in a DDP child process, the one rank 0 created (passed down in `RUN_DIR_ENV`)."""
    logdir = Path(logdir)
    now = datetime.datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
    stem = f"{now}-{name}" if name else now
    if not is_rank_zero():
        return RunDir(Path(os.environ.get(RUN_DIR_ENV) or logdir / stem))
    if logdir.exists() and not logdir.is_dir():
        raise SgmError(f"--logdir {logdir} is a file, not a folder: give a folder for the run directories")
    try:
        logdir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SgmError(f"cannot create --logdir {logdir}: {error.strerror}") from None
    folder, suffix = logdir / stem, 0
    while not _claim(folder):
        suffix += 1
        folder = logdir / f"{stem}-{suffix}"
    return RunDir(folder)


def resume_target(resume: str | Path) -> tuple[RunDir, Path]:
    """The run directory and checkpoint to resume from a run directory (its `checkpoints/last.ckpt`) or from a
    checkpoint file inside `<run>/checkpoints/`."""
    path = Path(resume)
    if path.is_dir():
        run = RunDir(path)
        checkpoint = run.last_checkpoint
        if not checkpoint.is_file():
            raise FileNotFoundError(f"cannot resume {path}: it has no {checkpoint.relative_to(path)}")
        check_checkpoint_readable(checkpoint, f"cannot resume {path}")
        return run, checkpoint
    if path.is_file():
        for folder in path.resolve().parents:
            if folder.name == "checkpoints":
                check_checkpoint_readable(path, f"cannot resume from {path}")
                return RunDir(folder.parent), path
        raise ValueError(f"cannot resume from {path}: a checkpoint to resume must lie in <run dir>/checkpoints/")
    raise FileNotFoundError(f"cannot resume {path}: no such run directory or checkpoint file")
