"""Tiny models in the official layout and random LoRAs for them, with the plain merge each LoRA should make.

sgm-core cannot import the text encoders (sgm-conditioners is to its right), so the engine here holds stand-ins
with the official key layouts of transformers' CLIP (SDXL's first encoder) and open_clip (its second, SD 2.x's
only one, with q, k and v fused in `nn.MultiheadAttention`'s `in_proj_weight`). The root tests repeat the text
encoder checks on the real ones.
"""

import re

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from sgm.core.lora import lora_slots
from sgm.core.nn.unet import UNetModel

CONTEXT, ADM, WIDTH, TOKENS = 24, 40, 24, 5

UNETS = {
    # SDXL-like: linear projections, vector conditioning (label_emb), no attention at the first level
    "sdxl": dict(in_channels=4, out_channels=4, model_channels=32, num_res_blocks=2, channel_mult=[1, 2, 2],
                 attention_resolutions=[2, 4], num_head_channels=16, transformer_depth=[1, 1, 2], context_dim=CONTEXT,
                 use_linear_in_transformer=True, num_classes="sequential", adm_in_channels=ADM),
    # SD 2.1-like: linear projections, attention at every level, no vector
    "sd21": dict(in_channels=4, out_channels=4, model_channels=32, num_res_blocks=1, channel_mult=[1, 2],
                 attention_resolutions=[1, 2], num_head_channels=16, context_dim=CONTEXT,
                 use_linear_in_transformer=True),
    # convolutional projections (SD 1 style) and parameterless downsamplers: the other code paths of the mapping
    "conv": dict(in_channels=4, out_channels=4, model_channels=32, num_res_blocks=[1, 2], channel_mult=[1, 2],
                 attention_resolutions=[2], num_heads=2, context_dim=CONTEXT, conv_resample=False),
}  # fmt: skip


class HFClipText(nn.Module):
    """Keys as transformers' CLIPTextModel under `transformer.`; a forward that uses every matrix."""

    def __init__(self, layers: int = 2):
        super().__init__()
        self.transformer = nn.Module()
        model = self.transformer.text_model = nn.Module()
        model.embeddings = nn.Module()
        model.embeddings.token_embedding = nn.Embedding(50, WIDTH)
        model.encoder = nn.Module()
        model.encoder.layers = nn.ModuleList()
        for _ in range(layers):
            layer = nn.Module()
            layer.self_attn = nn.Module()
            for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
                setattr(layer.self_attn, name, nn.Linear(WIDTH, WIDTH))
            layer.mlp = nn.Module()
            layer.mlp.fc1, layer.mlp.fc2 = nn.Linear(WIDTH, 2 * WIDTH), nn.Linear(2 * WIDTH, WIDTH)
            model.encoder.layers.append(layer)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.transformer.text_model.embeddings.token_embedding(tokens)
        for layer in self.transformer.text_model.encoder.layers:
            attn = layer.self_attn
            x = x + attn.out_proj(attn.q_proj(x) * attn.k_proj(x) + attn.v_proj(x))
            x = x + layer.mlp.fc2(F.gelu(layer.mlp.fc1(x)))
        return x


class OpenClipText(nn.Module):
    """Keys as open_clip's text tower under `model.`, attention by `nn.MultiheadAttention` (fused in_proj)."""

    def __init__(self, layers: int = 2):
        super().__init__()
        self.model = nn.Module()
        self.model.token_embedding = nn.Embedding(50, WIDTH)
        self.model.transformer = nn.Module()
        self.model.transformer.resblocks = nn.ModuleList()
        for _ in range(layers):
            block = nn.Module()
            block.attn = nn.MultiheadAttention(WIDTH, 2, batch_first=True)
            block.mlp = nn.Module()
            block.mlp.c_fc, block.mlp.c_proj = nn.Linear(WIDTH, 2 * WIDTH), nn.Linear(2 * WIDTH, WIDTH)
            self.model.transformer.resblocks.append(block)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.model.token_embedding(tokens)
        for block in self.model.transformer.resblocks:
            x = x + block.attn(x, x, x, need_weights=False)[0]
            x = x + block.mlp.c_proj(F.gelu(block.mlp.c_fc(x)))
        return x


class TinyEngine(nn.Module):
    """A DiffusionEngine's key layout: `model.diffusion_model` and `conditioner.embedders.N`."""

    def __init__(self, unet: str, encoders: tuple[type[nn.Module], ...]):
        super().__init__()
        self.model = nn.Module()
        self.model.diffusion_model = UNetModel(**UNETS[unet])
        self.conditioner = nn.Module()
        self.conditioner.embedders = nn.ModuleList(encoder() for encoder in encoders)

    def forward(self, x: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor, y: torch.Tensor | None = None):
        """Every part's output: the UNet's on a context made from the first encoder."""
        texts = [encoder(tokens) for encoder in self.conditioner.embedders]
        unet = self.model.diffusion_model(x, t, context=texts[0], y=y)
        return [unet, *texts]


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights everywhere (the UNet's output layer starts at zero, which would hide its LoRA)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    return model.eval()


def inputs(engine: TinyEngine, seed: int = 1) -> dict:
    generator = torch.Generator().manual_seed(seed)
    unet = engine.model.diffusion_model
    y = torch.randn(2, ADM, generator=generator) if unet.num_classes is not None else None
    return dict(
        x=torch.randn(2, 4, 8, 8, generator=generator),
        t=torch.tensor([3.0, 500.0]),
        tokens=torch.randint(0, 50, (2, TOKENS), generator=generator),
        y=y,
    )


_OFFICIAL_UNET = re.compile(r"^lora_unet_(input_blocks|middle_block|output_blocks|time_embed|label_emb|out)_")


def _wanted(name: str, style: str) -> bool:
    """Whether LoRA layer `name` is in `style`'s naming (kohya's two UNet namings share its text-encoder names)."""
    if not style.startswith("kohya"):
        return not name.startswith("lora_")
    if not name.startswith("lora_unet_"):
        return name.startswith("lora_")
    return bool(_OFFICIAL_UNET.match(name)) == (style == "kohya-official")


_PARTS = {
    "kohya-official": ("lora_down", "lora_up"),
    "kohya-diffusers": ("lora_down", "lora_up"),
    "diffusers-peft": ("lora_A", "lora_B"),
    "diffusers-old": ("lora.down", "lora.up"),
}


@pytest.fixture
def make_lora():
    """`make_lora(model, style, seed, only=None) -> (tensors, expected)`: a random LoRA over every matrix and kernel
    of `model` (or those whose official key contains `only`), each layer with its own rank and alpha, and the plain
    merge `{key: [(rows, alpha / rank * up @ down)]}` it stands for."""

    def make(model: nn.Module, style: str, seed: int = 2, only: str | None = None):
        generator = torch.Generator().manual_seed(seed)
        shapes = {key: list(value.shape) for key, value in model.state_dict().items()}
        slots = {}
        for name, slot in lora_slots(shapes).items():
            place = (slot.key, None if slot.rows is None else slot.rows.start)
            if _wanted(name, style) and (only is None or only in slot.key):
                slots.setdefault(place, (name, slot))
        tensors, expected = {}, {}
        for name, slot in slots.values():
            shape = shapes[slot.key]
            rows = shape[0] if slot.rows is None else slot.rows.stop - slot.rows.start
            rank = int(torch.randint(1, 4, (), generator=generator))
            alpha = float(torch.rand((), generator=generator) * 4 + 0.5)
            down = torch.randn((rank, *shape[1:]), generator=generator) * 0.1
            up = torch.randn((rows, rank, *[1] * (len(shape) - 2)), generator=generator) * 0.1
            down_part, up_part = _PARTS[style]
            tensors |= {
                f"{name}.{down_part}.weight": down,
                f"{name}.{up_part}.weight": up,
                f"{name}.alpha": torch.tensor(alpha),
            }
            delta = alpha / rank * (up.flatten(1) @ down.flatten(1))
            expected.setdefault(slot.key, []).append((slot.rows, delta.reshape(rows, *shape[1:])))
        return tensors, expected

    return make


def merged(state: dict[str, torch.Tensor], expected: dict, weight: float) -> dict[str, torch.Tensor]:
    """`state` with each expected update added: `W + weight * alpha / rank * up @ down` (fp32, then W's dtype)."""
    result = dict(state)
    for key, updates in expected.items():
        total = torch.zeros(state[key].shape)
        for rows, delta in updates:
            total[slice(None) if rows is None else rows] += weight * delta
        result[key] = (state[key].float() + total).to(state[key].dtype)
    return result
