"""Run directories: `<logdir>/<timestamp>-<name>/` holding `checkpoints/`, `configs/`, `images/` and metrics."""

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

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


def new_run_dir(logdir: str | Path, name: str) -> RunDir:
    """A fresh `<logdir>/<YYYY-mm-ddTHH-MM-SS>-<name>` (or the one rank 0 chose, in a DDP child process)."""
    inherited = os.environ.get(RUN_DIR_ENV)
    if inherited and os.environ.get("LOCAL_RANK", "0") != "0":
        return RunDir(Path(inherited))
    now = datetime.datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
    return RunDir(Path(logdir) / (f"{now}-{name}" if name else now))


def resume_target(resume: str | Path) -> tuple[RunDir, Path]:
    """The run directory and checkpoint to resume from a run directory (its `checkpoints/last.ckpt`) or from a
    checkpoint file inside `<run>/checkpoints/`."""
    path = Path(resume)
    if path.is_dir():
        run = RunDir(path)
        checkpoint = run.last_checkpoint
        if not checkpoint.is_file():
            raise FileNotFoundError(f"cannot resume {path}: it has no {checkpoint.relative_to(path)}")
        return run, checkpoint
    if path.is_file():
        for folder in path.resolve().parents:
            if folder.name == "checkpoints":
                return RunDir(folder.parent), path
        raise ValueError(f"cannot resume from {path}: a checkpoint to resume must lie in <run dir>/checkpoints/")
    raise FileNotFoundError(f"cannot resume {path}: no such run directory or checkpoint file")
