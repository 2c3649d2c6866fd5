"""The training entry in-process: a few steps of a tiny model, then resuming it."""

import csv
from pathlib import Path

import pytest
import torch

from sgm.train.launch import TrainOptions, fit
from sgm_train_app.cli import main, parse

CONFIGS = Path(__file__).parent / "configs"
TINY = CONFIGS / "tiny_cond.yaml"


def _only_run(logdir: Path) -> Path:
    (run,) = logdir.iterdir()
    return run


def test_few_steps_then_resume_restores_step_optimizer_schedule_and_ema(tmp_path):
    assert (
        main(["--base", str(TINY), "--max-steps", "4", "--logdir", str(tmp_path), "--name", "tiny", "--threads", "1"])
        == 0
    )
    run = _only_run(tmp_path)
    assert run.name.endswith("-tiny")
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 4
    assert any(k.startswith("model.diffusion_model.") for k in last["state_dict"])
    assert "conditioner.embedders.0.embedding.weight" in last["state_dict"]  # the class embedder trains too
    trained = [k for k in last["state_dict"] if k.startswith(("model.", "conditioner.embedders.0."))]
    assert len(last["optimizer_states"][0]["state"]) == len(trained)
    assert int(last["state_dict"]["model_ema.num_updates"]) == 4
    assert (run / "configs" / "config.yaml").is_file()
    assert sorted(p.name.split("_gs")[0] for p in (run / "images" / "train").glob("*gs-000004*")) == [
        "inputs",
        "reconstructions",
        "samples",
    ]

    # Resuming to the saved step restores everything and trains nothing more.
    same = fit(TrainOptions(resume=run, max_steps=4))
    assert same.trainer.global_step == 4
    restored = same.trainer.optimizers[0].state_dict()["state"]
    saved = last["optimizer_states"][0]["state"]
    assert restored.keys() == saved.keys()
    for index in saved:
        torch.testing.assert_close(restored[index]["exp_avg"], saved[index]["exp_avg"])
    assert same.trainer.lr_scheduler_configs[0].scheduler.last_epoch == 4
    assert int(same.module.model_ema.num_updates) == 4

    # Resuming further continues the step count, the schedule and the EMA.
    more = fit(TrainOptions(resume=run / "checkpoints" / "last.ckpt", max_steps=6))
    assert more.run_dir.root == run
    after = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert after["global_step"] == 6
    assert after["lr_schedulers"][0]["last_epoch"] == 6
    assert int(after["state_dict"]["model_ema.num_updates"]) == 6


def test_cli_parsing_and_errors(tmp_path, capsys):
    options, _ = parse(["--base", "a.yaml", "b.yaml", "model.x=1", "--name", "n", "data.params.batch_size=2"])
    assert [str(p) for p in options.base] == ["a.yaml", "b.yaml"]
    assert list(options.overrides) == ["model.x=1", "data.params.batch_size=2"]
    with pytest.raises(SystemExit):
        parse(["--base", "a.yaml", "--resume", "x", "--name", "n"])
    assert main(["--base", str(tmp_path / "missing.yaml"), "--logdir", str(tmp_path)]) == 2
    assert "config file not found" in capsys.readouterr().err
    assert main(["--resume", str(tmp_path / "nope")]) == 2
    assert "cannot resume" in capsys.readouterr().err


def test_top_k_checkpoints_keep_the_lowest_losses(tmp_path):
    overrides = [
        "lightning.modelcheckpoint.params.monitor=loss",
        "lightning.modelcheckpoint.params.save_top_k=2",
        "lightning.modelcheckpoint.params.every_n_train_steps=1",
        "lightning.trainer.log_every_n_steps=1",
        "lightning.callbacks.image_logger.params.disabled=true",
    ]
    run = fit(TrainOptions(base=[TINY], overrides=overrides, logdir=tmp_path, max_steps=5))
    with open(run.run_dir.root / "metrics" / "version_0" / "metrics.csv") as f:
        losses = sorted(float(row["loss"]) for row in csv.DictReader(f) if row.get("loss"))
    assert len(losses) == 5
    kept = run.trainer.checkpoint_callback.best_k_models
    assert sorted(Path(path).name for path in kept) == sorted(
        p.name for p in run.run_dir.checkpoints.glob("*.ckpt") if p.name != "last.ckpt"
    )
    torch.testing.assert_close(sorted(float(score) for score in kept.values()), losses[:2])
    assert torch.load(run.run_dir.last_checkpoint, weights_only=True)["global_step"] == 5
