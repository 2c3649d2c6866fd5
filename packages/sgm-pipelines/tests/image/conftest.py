"""Tiny random-weight engines for the pipeline tests, built from sgm.core's real UNet, denoisers and engine.

sgm.core may not import sgm.conditioners or sgm.autoencoders, so the conditioner and first stage are test-local:
a conditioner with the reference GeneralConditioner's contract (embedders with input_key / ucg_rate /
legacy_ucg_val, zeroed embeddings on request) and an average-pool / nearest-upsample first stage whose `decoder`
reports its levels like the real Decoder.
"""

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from sgm.core.engine import DiffusionEngine
from sgm.core.nn.timestep import timestep_embedding
from sgm.pipelines import ImagePipeline

TEXT_TOKENS, TEXT_WIDTH, SIZE_WIDTH = 6, 16, 8
DDPM_DENOISER = {
    "target": "sgm.core.diffusion.denoiser.DiscreteDenoiser",
    "params": {
        "num_idx": 1000,
        "scaling_config": {"target": "sgm.core.diffusion.scaling.EpsScaling"},
        "discretization_config": {"target": "sgm.core.diffusion.discretization.LegacyDDPMDiscretization"},
    },
}
EDM_DENOISER = {
    "target": "sgm.core.diffusion.denoiser.Denoiser",
    "params": {"scaling_config": {"target": "sgm.core.diffusion.scaling.EDMScaling", "params": {"sigma_data": 1.0}}},
}


class Embedder(nn.Module):
    def __init__(self, input_key: str, ucg_rate: float = 0.0, legacy_ucg_val=None):
        super().__init__()
        self.input_key, self.ucg_rate, self.legacy_ucg_val = input_key, ucg_rate, legacy_ucg_val


class ByteTextEmbedder(Embedder):
    """Prompt bytes (padded to TEXT_TOKENS) through an embedding table: `[N, TEXT_TOKENS, TEXT_WIDTH]`."""

    def __init__(self, **kwargs):
        super().__init__("txt", **kwargs)
        self.table = nn.Embedding(257, TEXT_WIDTH)

    def forward(self, texts: list[str]) -> torch.Tensor:
        ids = [[*list(text.encode())[:TEXT_TOKENS], *[256] * TEXT_TOKENS][:TEXT_TOKENS] for text in texts]
        return self.table(torch.tensor(ids, device=self.table.weight.device))


class SizeEmbedder(Embedder):
    """Each number's sinusoidal embedding, concatenated (the reference's ConcatTimestepEmbedderND)."""

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        rows = values if values.ndim == 2 else values[:, None]
        return timestep_embedding(rows.flatten(), SIZE_WIDTH).reshape(rows.shape[0], -1)


class ClassLabelEmbedder(Embedder):
    def __init__(self, n_classes: int, width: int, **kwargs):
        super().__init__("cls", **kwargs)
        self.embedding = nn.Embedding(n_classes, width)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return self.embedding(labels)


class TinyConditioner(nn.Module):
    """Outputs by rank as the reference: 2-d -> "vector" (joined on dim 1), 3-d -> "crossattn" (dim 2)."""

    KEYS, DIMS = {2: "vector", 3: "crossattn"}, {"vector": 1, "crossattn": 2}

    def __init__(self, embedders: list[Embedder]):
        super().__init__()
        self.embedders = nn.ModuleList(embedders)

    def forward(self, batch: dict, force_zero_embeddings=()) -> dict:
        output = {}
        for embedder in self.embedders:
            emb = embedder(batch[embedder.input_key]).float()
            if embedder.input_key in force_zero_embeddings:
                emb = torch.zeros_like(emb)
            key = self.KEYS[emb.dim()]
            output[key] = torch.cat((output[key], emb), self.DIMS[key]) if key in output else emb
        return output

    def get_unconditional_conditioning(self, batch_c, batch_uc=None, force_uc_zero_embeddings=None):
        force = force_uc_zero_embeddings or []
        return self(batch_c), self(batch_c if batch_uc is None else batch_uc, force)


class PoolingFirstStage(nn.Module):
    """encode: `factor` x `factor` average pooling; decode: nearest upsampling (exact on blockwise-flat images)."""

    def __init__(self, factor: int):
        super().__init__()
        self.factor = factor
        self.decoder = nn.Module()
        self.decoder.num_resolutions = int(math.log2(factor)) + 1
        self.scale = nn.Parameter(torch.ones(1))

    def encode(self, x):
        return F.avg_pool2d(x, self.factor) * self.scale

    def decode(self, z):
        return F.interpolate(z / self.scale, scale_factor=self.factor, mode="nearest")


class SmoothFirstStage(PoolingFirstStage):
    """Bilinear upsampling into (-0.8, 0.8): smooth mid-range images, like natural ones, which the DWT-DCT
    watermark survives (it does not survive saturated flat blocks)."""

    def decode(self, z):
        return 0.8 * torch.tanh(F.interpolate(z / self.scale, scale_factor=self.factor, mode="bilinear"))


def _unet(in_channels: int, context_dim: int | None, adm_in_channels: int | None, num_classes=None) -> dict:
    params = dict(
        in_channels=in_channels, out_channels=in_channels, model_channels=32, num_res_blocks=1, channel_mult=[1, 2],
        attention_resolutions=[2] if context_dim else [], num_head_channels=8, context_dim=context_dim,
        use_linear_in_transformer=True, adm_in_channels=adm_in_channels, num_classes=num_classes,
        spatial_transformer_attn_type="softmax",
    )  # fmt: skip
    return {"target": "sgm.core.nn.unet.UNetModel", "params": params}


def _randomized(engine: DiffusionEngine) -> DiffusionEngine:
    # The UNet's output convolution starts at zero; random values make the network's prediction matter.
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in engine.model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)
    return engine.eval()


def text_engine(
    size_keys=("original_size_as_tuple", "crop_coords_top_left", "target_size_as_tuple"), factor=2, smooth=False
):
    """SDXL-shaped: text cross-attention plus size (or aesthetic) vectors, DDPM eps denoiser, 3-channel latents;
    `smooth` picks the SmoothFirstStage."""
    embedders = [ByteTextEmbedder(), *[SizeEmbedder(key) for key in size_keys]]
    widths = {"aesthetic_score": SIZE_WIDTH}
    adm = sum(widths.get(key, 2 * SIZE_WIDTH) for key in size_keys) or None
    engine = DiffusionEngine(
        network_config=_unet(3, TEXT_WIDTH, adm, "sequential" if adm else None),
        denoiser_config=DDPM_DENOISER,
        first_stage_config=(SmoothFirstStage if smooth else PoolingFirstStage)(factor),
        conditioner_config=TinyConditioner(embedders),
        scale_factor=0.5,
    )
    return _randomized(engine)


def refiner_engine(factor=2):
    return text_engine(("original_size_as_tuple", "crop_coords_top_left", "aesthetic_score"), factor)


def digits_engine(n_classes=10, legacy_ucg_val=None):
    """The digits model's shape: class label -> vector, EDM denoiser, 1-channel pixel space."""
    embedder = ClassLabelEmbedder(n_classes, 16, ucg_rate=0.2, legacy_ucg_val=legacy_ucg_val)
    engine = DiffusionEngine(
        network_config=_unet(1, None, 16, "sequential"),
        denoiser_config=EDM_DENOISER,
        first_stage_config=PoolingFirstStage(1),
        conditioner_config=TinyConditioner([embedder]),
    )
    return _randomized(engine)


SIZE = 16  # image side of the text models' samples (latents 8 x 8)


@pytest.fixture(scope="module")
def text_pipeline() -> ImagePipeline:
    """SDXL-base-shaped, unwatermarked, 4 DPM++ 2M steps with CFG 5 at 16 x 16."""
    defaults = {"width": SIZE, "height": SIZE, "steps": 4, "cfg": 5.0, "seed": 7, "progress": False}
    return ImagePipeline(text_engine(), name="tiny-text", defaults=defaults, watermark=False)


@pytest.fixture(scope="module")
def refiner_pipeline() -> ImagePipeline:
    defaults = {"steps": 4, "cfg": 5.0, "strength": 0.25, "progress": False}
    return ImagePipeline(refiner_engine(), name="tiny-refiner", defaults=defaults, watermark=False)


@pytest.fixture(scope="module")
def digits_pipeline() -> ImagePipeline:
    defaults = {"width": 12, "height": 12, "steps": 4, "cfg": 3.0, "sampler": "EulerEDMSampler",
                "discretization": "EDMDiscretization", "seed": 3, "progress": False}  # fmt: skip
    return ImagePipeline(digits_engine(), name="tiny-digits", defaults=defaults, watermark=False)


@pytest.fixture(scope="module")
def engines() -> SimpleNamespace:
    """The engine builders, for tests that need their own variant."""
    return SimpleNamespace(text=text_engine, refiner=refiner_engine, digits=digits_engine)
