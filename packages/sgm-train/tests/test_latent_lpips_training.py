"""LatentLPIPS as a training loss: a small latent-to-latent network learns to denoise latents under the latent L2
plus LPIPS on decoded images (random LPIPS and decoder weights); the decoder only passes gradients through."""

import torch
from torch import nn

from sgm.core.config import instantiate

DDCONFIG = {"ch": 32, "out_ch": 3, "ch_mult": [1, 2], "num_res_blocks": 1, "attn_resolutions": [], "in_channels": 3,
            "resolution": 16, "z_channels": 2, "double_z": True}  # fmt: skip
LOSS = {
    "target": "sgm.modules.autoencoding.losses.LatentLPIPS",
    "params": {
        "decoder_config": {
            "target": "sgm.models.autoencoder.AutoencoderKL",
            "params": {"embed_dim": 2, "ddconfig": DDCONFIG},
        },
        "perceptual_weight": 1.0,
        "latent_weight": 1.0,
        "perceptual_weight_on_inputs": 0.5,
        "scale_tgt_to_input_size": True,
        "lpips_pretrained": False,
    },
}


def test_latent_lpips_trains_a_latent_network():
    torch.manual_seed(0)
    loss_fn = instantiate(LOSS)
    assert not hasattr(loss_fn.decoder, "encoder")  # only the decoder is kept
    decoder_before = {k: v.clone() for k, v in loss_fn.decoder.state_dict().items()}
    network = nn.Sequential(nn.Conv2d(2, 32, 3, padding=1), nn.SiLU(), nn.Conv2d(32, 2, 3, padding=1))
    optimizer = torch.optim.Adam(network.parameters(), lr=3e-3)

    targets = torch.randn(2, 2, 8, 8)
    noisy = targets + 0.5 * torch.randn_like(targets)
    images = torch.rand(2, 3, 20, 20) * 2 - 1  # other-sized inputs: decoded images are scaled to them
    losses = []
    for _ in range(8):
        optimizer.zero_grad()
        loss, log = loss_fn(targets, noisy + network(noisy), images, split="train")
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    assert set(log) == {"train/latent_l2_loss", "train/perceptual_loss", "train/perceptual_loss_on_inputs"}
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-2:]) / 2 < 0.9 * sum(losses[:2]) / 2
    assert all(p.grad is None for p in loss_fn.perceptual_loss.parameters())  # LPIPS is frozen
    for key, value in loss_fn.decoder.state_dict().items():
        torch.testing.assert_close(value, decoder_before[key], rtol=0, atol=0, msg=key)
