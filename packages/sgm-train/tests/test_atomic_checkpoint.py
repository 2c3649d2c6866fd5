"""The atomic writer: a failure or a SIGKILL in the middle of a write leaves the previous file as it was."""

import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from sgm.train.checkpoint_io import AtomicCheckpointIO, atomic_torch_save


class _FailsWhilePickled:
    def __reduce__(self):
        raise RuntimeError("disk went away")


def test_failed_write_keeps_previous_file(tmp_path):
    path = tmp_path / "last.ckpt"
    atomic_torch_save({"step": 1, "w": torch.ones(1000)}, path)
    with pytest.raises(RuntimeError, match="disk went away"):
        atomic_torch_save({"w": torch.zeros(100_000), "later": _FailsWhilePickled()}, path)
    assert torch.load(path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no temporary file left behind


def test_sigkill_mid_write_keeps_previous_file(tmp_path):
    path = tmp_path / "last.ckpt"
    atomic_torch_save({"step": 1}, path)
    script = textwrap.dedent(
        f"""
        import os, signal, torch
        from sgm.train.checkpoint_io import atomic_torch_save

        class KilledWhilePickled:
            def __reduce__(self):
                os.kill(os.getpid(), signal.SIGKILL)

        atomic_torch_save({{"big": torch.zeros(1_000_000), "then": KilledWhilePickled()}}, {str(path)!r})
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, check=False)
    assert result.returncode == -signal.SIGKILL
    assert any(p.name.startswith(".last.ckpt.tmp-") for p in tmp_path.iterdir())  # the half-written file
    assert torch.load(path) == {"step": 1}
    AtomicCheckpointIO().save_checkpoint({"step": 2}, path)
    assert torch.load(path) == {"step": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # the next save cleans up
