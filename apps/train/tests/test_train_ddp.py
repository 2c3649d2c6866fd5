"""Two CPU processes (gloo) training with DDP stay in step: identical parameters on both ranks at the end."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

TINY = Path(__file__).parent / "configs" / "tiny_cond.yaml"

# Lightning's DDP launcher re-runs this script for rank 1, so it must be a file.
SCRIPT = """
import os, sys, torch
from sgm.train.launch import TrainOptions, fit

logdir, config = sys.argv[1], sys.argv[2]
overrides = ["lightning.trainer.strategy=ddp", "lightning.trainer.devices=2", "lightning.trainer.accelerator=cpu",
             "lightning.callbacks.image_logger.params.disabled=true"]
run = fit(TrainOptions(base=[config], overrides=overrides, logdir=logdir, name="ddp", max_steps=3))
rank = run.trainer.global_rank
weights = {k: v.detach().cpu() for k, v in run.module.state_dict().items()}
torch.save({"step": run.trainer.global_step, "weights": weights}, os.path.join(logdir, f"rank{rank}.pt"))
"""


@pytest.mark.slow
def test_two_cpu_ranks_end_with_identical_parameters(tmp_path):
    script = tmp_path / "train_ddp.py"
    script.write_text(textwrap.dedent(SCRIPT))
    logdir = tmp_path / "logs"
    logdir.mkdir()
    result = subprocess.run(
        [sys.executable, str(script), str(logdir), str(TINY)], capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(logdir / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert ranks[0]["step"] == ranks[1]["step"] == 3
    assert ranks[0]["weights"].keys() == ranks[1]["weights"].keys()
    for key, value in ranks[0]["weights"].items():
        torch.testing.assert_close(value, ranks[1]["weights"][key], rtol=0, atol=0, msg=key)
    runs = [p for p in logdir.iterdir() if p.is_dir()]
    assert len(runs) == 1  # both ranks logged into the one run directory rank 0 made
