"""A training process killed with SIGKILL after its first checkpoint resumes from it and keeps counting steps."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sgm.train.launch import TrainOptions, fit

TINY = Path(__file__).parent / "configs" / "tiny_cond.yaml"
START_TIMEOUT_S = 400  # generous: the test machines are shared


@pytest.mark.slow
def test_sigkill_then_resume_continues_the_step_count(tmp_path):
    command = [
        sys.executable,
        "-m",
        "sgm_train_app",
        "--base",
        str(TINY),
        "--logdir",
        str(tmp_path),
        "--max-steps",
        "1000",
    ]
    command += ["lightning.callbacks.image_logger.params.disabled=true"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not list(tmp_path.glob("*/checkpoints/last.ckpt")):
            assert process.poll() is None, "training exited before writing a checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within the time limit"
            time.sleep(0.2)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    (run,) = tmp_path.iterdir()
    killed_at = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    assert killed_at >= 2

    resumed = fit(TrainOptions(resume=run, max_steps=killed_at + 2))
    assert resumed.trainer.global_step == killed_at + 2
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == killed_at + 2
