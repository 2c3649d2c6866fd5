"""transformers' module path of every LoRA-able layer of the text encoders in an official-layout state dict.

LoRA files name text-encoder layers as transformers' `CLIPTextModel` does (`text_model.encoder.layers.0.self_attn.
q_proj`). SDXL's first encoder (CLIP ViT-L) is stored in that naming already. The OpenCLIP encoders (SD 2.x's
ViT-H, SDXL's ViT-bigG) are stored in open_clip's: one fused `attn.in_proj_weight` whose rows are q, k and v, and
`mlp.c_fc` / `mlp.c_proj` for `fc1` / `fc2`. So q, k and v are row slices of one weight.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

HF_CLIP, OPEN_CLIP = "clip", "open_clip"

_HF_TOKENS = "text_model.embeddings.token_embedding.weight"
_OPEN_CLIP_TOKENS = "token_embedding.weight"
_OPEN_CLIP_LAYER = re.compile(
    r"^transformer\.resblocks\.(\d+)\.(attn\.in_proj_weight|attn\.out_proj|mlp\.c_fc|mlp\.c_proj)"
)
_OPEN_CLIP_TO_HF = {"attn.out_proj": "self_attn.out_proj", "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"}


@dataclass(frozen=True)
class TextEncoder:
    root: str  # the prefix of its keys, e.g. `conditioner.embedders.1.model.`
    kind: str  # HF_CLIP or OPEN_CLIP


def text_encoders(shapes: Mapping[str, list[int]]) -> list[TextEncoder]:
    """The text encoders in a state dict, in the order of their keys' prefixes (`embedders.0` before `1`)."""
    found = []
    for key in shapes:
        if key.endswith(_HF_TOKENS):
            found.append(TextEncoder(key[: -len(_HF_TOKENS)], HF_CLIP))
        elif key.endswith(_OPEN_CLIP_TOKENS):
            root = key[: -len(_OPEN_CLIP_TOKENS)]
            if f"{root}transformer.resblocks.0.attn.in_proj_weight" in shapes:  # a text tower, not a leftover
                found.append(TextEncoder(root, OPEN_CLIP))
    return sorted(found, key=lambda encoder: _natural(encoder.root))


def hf_text_paths(encoder: TextEncoder, shapes: Mapping[str, list[int]]) -> dict[str, tuple[str, slice | None]]:
    """`{transformers module path: (official key, rows)}` for the encoder's matrices; rows is None for a whole
    weight, a slice for q, k or v inside a fused `in_proj_weight`."""
    paths = {}
    for key, shape in shapes.items():
        if not key.startswith(encoder.root) or len(shape) < 2:
            continue
        local = key[len(encoder.root) :]
        if encoder.kind == HF_CLIP:
            if local.startswith("text_model.encoder.layers.") and local.endswith(".weight"):
                paths[local.removesuffix(".weight")] = (key, None)
            continue
        match = _OPEN_CLIP_LAYER.match(local)
        if match is None:
            continue
        layer = f"text_model.encoder.layers.{match[1]}."
        if match[2] == "attn.in_proj_weight":
            width = shape[0] // 3
            for index, name in enumerate(("q_proj", "k_proj", "v_proj")):
                paths[f"{layer}self_attn.{name}"] = (key, slice(index * width, (index + 1) * width))
        elif local.endswith(".weight"):
            paths[layer + _OPEN_CLIP_TO_HF[match[2]]] = (key, None)
    return paths


def _natural(text: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]
