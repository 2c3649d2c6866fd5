import pytest
import torch
from torch import nn

class TinyEngine(nn.Module):
    """A model with the shape of a DiffusionEngine's state dict: a network, a first stage, a text conditioner,
    a conditioning VAE, a denoiser buffer and a non-persistent buffer."""

    def __init__(self):
        super().__init__()
        self.model = nn.Module()
        self.model.diffusion_model = nn.Sequential(nn.Linear(4, 8), nn.SiLU(), nn.Linear(8, 4))
        self.first_stage_model = nn.Module()
        self.first_stage_model.encoder = nn.Conv2d(3, 4, 3)
        self.first_stage_model.decoder = nn.Conv2d(4, 3, 3)
        self.conditioner = nn.Module()
        text, vae = nn.Module(), nn.Module()
        text.model = nn.Embedding(10, 6)
        vae.encoder = nn.Module()
        vae.encoder.encoder = nn.Conv2d(3, 2, 1)
        vae.encoder.decoder = nn.Conv2d(2, 3, 1)
        self.conditioner.embedders = nn.ModuleList([text, vae])
        self.denoiser = nn.Module()
        self.denoiser.register_buffer("sigmas", torch.linspace(0.1, 10.0, 5))
        self.register_buffer("mean", torch.tensor([0.5, 0.25]), persistent=False)


@pytest.fixture
def tiny_state_dict():
    torch.manual_seed(0)
    return {key: value.clone() for key, value in TinyEngine().state_dict().items()}
