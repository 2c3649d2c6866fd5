"""The training entry on a tiny KL autoencoder with a discriminator: two optimizers, the engine's monitored metric
choosing top-k checkpoints, image grids, and a resume that restores both optimizers, the EMA and the step."""

from pathlib import Path

import torch

from sgm.train.launch import TrainOptions, fit

TINY_AUTOENCODER = Path(__file__).parent / "configs" / "tiny_autoencoder.yaml"


def test_autoencoder_trains_checkpoints_by_its_monitor_and_resumes(tmp_path):
    run = fit(TrainOptions(base=[TINY_AUTOENCODER], logdir=tmp_path, max_steps=4)).run_dir
    last = torch.load(run.last_checkpoint, map_location="cpu", weights_only=True)
    assert last["global_step"] == 4
    autoencoder_state, discriminator_state = (state["state"] for state in last["optimizer_states"])
    assert autoencoder_state and discriminator_state  # the discriminator stepped once disc_start_iter was reached
    assert int(last["state_dict"]["model_ema.num_updates"]) == 4
    (best,) = [p.name for p in run.checkpoints.glob("*.ckpt") if p.name != "last.ckpt"]
    assert best == "epoch=000000-step=000000004.ckpt"  # validated at step 4 on the engine's monitor, val/loss/rec
    images = {p.name.split("_gs-")[0] for p in (run.root / "images" / "train").glob("*_gs-000004_*.png")}
    assert {"inputs", "reconstructions", "reconstructions_ema"} <= images

    same = fit(TrainOptions(resume=run.root, max_steps=4))
    for optimizer, saved in zip(same.trainer.optimizers, last["optimizer_states"], strict=True):
        restored = optimizer.state_dict()["state"]
        assert restored.keys() == saved["state"].keys()
        for index, state in saved["state"].items():
            torch.testing.assert_close(restored[index]["exp_avg"], state["exp_avg"])

    fit(TrainOptions(resume=run.last_checkpoint, max_steps=6))
    after = torch.load(run.last_checkpoint, map_location="cpu", weights_only=True)
    assert after["global_step"] == 6 and int(after["state_dict"]["model_ema.num_updates"]) == 6
