"""Run directories: each new run gets its own (even when started in the same second), a DDP child uses its rank 0's,
and a checkpoint to resume that cannot be read is a clear error before anything starts."""

import datetime

import pytest
import torch

from sgm.core.errors import SgmError
from sgm.train import run_dir
from sgm.train.run_dir import RUN_DIR_ENV, new_run_dir, resume_target


class _FrozenClock(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return cls(2025, 1, 1, 12, 0, 0)


@pytest.fixture
def same_second(monkeypatch):
    monkeypatch.setattr(run_dir.datetime, "datetime", _FrozenClock)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.delenv("NODE_RANK", raising=False)


def test_runs_started_in_the_same_second_get_their_own_directories(tmp_path, same_second):
    runs = [new_run_dir(tmp_path, "exp") for _ in range(3)]
    assert [run.root.name for run in runs] == [
        "2025-01-01T12-00-00-exp",
        "2025-01-01T12-00-00-exp-1",
        "2025-01-01T12-00-00-exp-2",
    ]
    assert all(run.root.is_dir() and not any(run.root.iterdir()) for run in runs)


def test_a_ddp_child_uses_the_directory_its_rank_0_created(tmp_path, same_second, monkeypatch):
    parent = new_run_dir(tmp_path, "exp")
    monkeypatch.setenv(RUN_DIR_ENV, str(parent.root))
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert new_run_dir(tmp_path, "exp").root == parent.root
    assert [p.name for p in tmp_path.iterdir()] == [parent.root.name]  # the child created nothing


def test_a_logdir_that_is_a_file_is_a_clear_error(tmp_path, same_second):
    logdir = tmp_path / "logs"
    logdir.write_text("not a folder")
    with pytest.raises(SgmError, match="is a file, not a folder"):
        new_run_dir(logdir, "exp")
    with pytest.raises(SgmError, match="cannot create --logdir"):
        new_run_dir(logdir / "below", "exp")
    assert logdir.read_text() == "not a folder"


def test_a_truncated_checkpoint_is_refused_before_resuming(tmp_path):
    checkpoints = tmp_path / "run" / "checkpoints"
    checkpoints.mkdir(parents=True)
    last = checkpoints / "last.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1000)}}, last)
    assert resume_target(tmp_path / "run") == (run_dir.RunDir(tmp_path / "run"), last)
    last.write_bytes(last.read_bytes()[:-200])
    for target in (tmp_path / "run", last):
        with pytest.raises(SgmError, match="last.ckpt is not a readable checkpoint .* truncated"):
            resume_target(target)
