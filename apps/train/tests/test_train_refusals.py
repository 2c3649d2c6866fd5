"""What the training command refuses: each refusal is one line `sgm-train: error: ...`, exit status 2, and nothing
written under the log folder; and what a run logs of its config (as written, without environment values)."""

import shutil
from pathlib import Path

import torch

from sgm.train.launch import TrainOptions, fit
from sgm_train_app.cli import main

TINY = Path(__file__).parent / "configs" / "tiny_cond.yaml"


def _one_error_line(capsys) -> str:
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("sgm-train: error: ")
    return line


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"" for p in sorted(folder.rglob("*"))}


def test_an_unknown_key_in_an_override_names_it(tmp_path, capsys):
    logdir = tmp_path / "logs"
    assert main(["--base", str(TINY), "model.params.typo_key=3", "--logdir", str(logdir)]) == 2
    line = _one_error_line(capsys)
    assert "model.params.typo_key: DiffusionEngine has no parameter 'typo_key'" in line
    assert main(["--base", str(TINY), "model.params.network_config.params.chanels=3", "--logdir", str(logdir)]) == 2
    assert "model.params.network_config.params.chanels: UNetModel has no parameter" in _one_error_line(capsys)
    assert not logdir.exists()


def test_a_refused_trainer_argument_or_interpolation_leaves_no_run_directory(tmp_path, capsys):
    logdir = tmp_path / "logs"
    assert main(["--base", str(TINY), "lightning.trainer.max_stepz=3", "--logdir", str(logdir)]) == 2
    assert "lightning.trainer.max_stepz: not an argument of lightning's Trainer" in _one_error_line(capsys)
    unset = "model.base_learning_rate=${oc.env:SGM_TEST_UNSET_VARIABLE}"
    assert main(["--base", str(TINY), unset, "--logdir", str(logdir)]) == 2
    assert "model.base_learning_rate" in _one_error_line(capsys)
    bad_callback = "lightning.callbacks.image_logger.target=lightning.pytorch.callbacks.NoSuchCallback"
    assert main(["--base", str(TINY), bad_callback, "--logdir", str(logdir)]) == 2
    assert "NoSuchCallback" in _one_error_line(capsys)
    assert not logdir.exists() or not list(logdir.iterdir())


def test_a_logdir_that_is_a_file_is_one_line(tmp_path, capsys):
    logdir = tmp_path / "logs"
    logdir.write_text("a file")
    assert main(["--base", str(TINY), "--logdir", str(logdir), "--max-steps", "1"]) == 2
    assert "is a file, not a folder" in _one_error_line(capsys)
    assert logdir.read_text() == "a file"


def test_resuming_a_truncated_checkpoint_is_one_line_and_changes_nothing(tmp_path, capsys):
    run = tmp_path / "logs" / "2025-01-01T12-00-00-tiny"
    (run / "configs").mkdir(parents=True)
    (run / "checkpoints").mkdir()
    shutil.copy(TINY, run / "configs" / "config.yaml")
    torch.save({"global_step": 2, "state_dict": {"w": torch.zeros(4000)}}, run / "checkpoints" / "last.ckpt")
    last = run / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    before = _tree(tmp_path)
    assert main(["--resume", str(run), "--max-steps", "4"]) == 2
    assert "last.ckpt is not a readable checkpoint" in _one_error_line(capsys)
    assert _tree(tmp_path) == before


def test_environment_values_are_not_logged(tmp_path, monkeypatch):
    monkeypatch.setenv("SGM_TEST_SECRET", "s3cr3t-value")
    overrides = ["notes=${oc.env:SGM_TEST_SECRET}", "lightning.callbacks.image_logger.params.disabled=true"]
    run = fit(TrainOptions(base=[TINY], overrides=overrides, logdir=tmp_path, max_steps=1)).run_dir
    hparams = (run.root / "metrics" / "version_0" / "hparams.yaml").read_text()
    assert "base_learning_rate" in hparams and "${oc.env:SGM_TEST_SECRET}" in hparams
    written = [p for p in run.root.rglob("*") if p.is_file() and b"s3cr3t-value" in p.read_bytes()]
    assert not written
