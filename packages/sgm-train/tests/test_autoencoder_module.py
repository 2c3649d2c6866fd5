"""AutoencoderTrainer: manual optimization alternating autoencoder and discriminator after disc_start_iter."""

import lightning.pytorch as pl
import torch

from sgm.core.config import instantiate
from sgm.train.autoencoder_module import AutoencoderTrainer
from sgm.train.data.toy import DigitsLoader

DDCONFIG = {"ch": 32, "out_ch": 1, "ch_mult": [1], "num_res_blocks": 1, "attn_resolutions": [], "in_channels": 1,
            "resolution": 8, "z_channels": 2, "double_z": True}  # fmt: skip
ENGINE = {
    "target": "sgm.models.autoencoder.AutoencodingEngine",
    "params": {
        "encoder_config": {"target": "sgm.modules.diffusionmodules.model.Encoder", "params": DDCONFIG},
        "decoder_config": {"target": "sgm.modules.diffusionmodules.model.Decoder", "params": DDCONFIG},
        "regularizer_config": {"target": "sgm.modules.autoencoding.regularizers.DiagonalGaussianRegularizer"},
        "loss_config": {
            "target": "sgm.modules.autoencoding.losses.GeneralLPIPSWithDiscriminator",
            "params": {
                "disc_start": 2,
                "perceptual_weight": 0.0,
                "disc_in_channels": 1,
                "disc_num_layers": 1,
                "lpips_pretrained": False,
                "regularization_weights": {"kl_loss": 1.0e-6},
            },
        },
        "disc_start_iter": 2,
        "ema_decay": 0.9,
    },
}


def test_two_optimizers_discriminator_waits_for_disc_start(tmp_path):
    torch.manual_seed(0)
    module = AutoencoderTrainer(instantiate(ENGINE), learning_rate=1e-3)
    assert not module.automatic_optimization
    disc_before = [p.detach().clone() for p in module.engine.get_discriminator_params()]
    decoder_before = [p.detach().clone() for p in module.engine.decoder.parameters()]

    def train(steps: int) -> pl.Trainer:
        trainer = pl.Trainer(
            max_steps=steps, accelerator="cpu", logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path, limit_val_batches=0,
        )  # fmt: skip
        trainer.fit(module, DigitsLoader(batch_size=4, size=8, shuffle=False))
        return trainer

    trainer = train(2)
    assert len(trainer.optimizers) == 2 and trainer.global_step == 2
    assert all(torch.equal(a, b) for a, b in zip(disc_before, module.engine.get_discriminator_params()))
    assert not all(torch.equal(a, b) for a, b in zip(decoder_before, module.engine.decoder.parameters()))
    assert int(module.model_ema.num_updates) == 2

    trainer = train(6)  # a new trainer counts from 0 again: from step 2 on, odd batches step the discriminator
    assert trainer.global_step == 6
    assert not all(torch.equal(a, b) for a, b in zip(disc_before, module.engine.get_discriminator_params()))
    logs = module.log_images(next(iter(DigitsLoader(batch_size=3, size=8).train_dataloader())), N=2)
    assert logs["reconstructions"].shape == logs["reconstructions_ema"].shape == (2, 1, 8, 8)
