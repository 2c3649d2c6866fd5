"""A LoRA file's tensors grouped per layer: down, up and alpha, in whichever format the file uses.

A layer with a part this package does not apply (LoCon's Tucker `lora_mid`, DoRA's `dora_scale`, LoHa, LoKr) or
without both down and up is left out whole, and its keys are reported: applying half of it would change the model
in a way its author never trained.
"""

import json
import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from sgm.core.errors import SgmError
from sgm.core.lora.keys import ALPHA, DOWN, UP, parse_key


@dataclass
class LoraLayer:
    """One layer's low-rank update `up @ down`, scaled by `alpha / rank` (Hu et al. 2021, "LoRA", section 4.1)."""

    name: str  # in the file's naming
    down: torch.Tensor  # [rank, in] or, for a convolution (LoCon), [rank, in, kh, kw]
    up: torch.Tensor  # [out, rank] or [out, rank, 1, 1]
    alpha: float | None  # None: the file gives none, and alpha = rank (scale 1), as kohya and PEFT assume
    keys: list[str] = field(default_factory=list)  # the file's keys this layer was read from

    @property
    def rank(self) -> int:
        return self.down.shape[0]

    @property
    def scale(self) -> float:
        return (self.rank if self.alpha is None else self.alpha) / self.rank


@dataclass
class LoraContents:
    format: str  # "kohya", "diffusers-peft" or "diffusers-old": the format most of its keys are in
    layers: list[LoraLayer]
    unsupported: list[str]  # keys of no known format, of parts out of scope, or of layers lacking down or up


def group_layers(
    tensors: Mapping[str, torch.Tensor], source: str, metadata: Mapping[str, str] | None = None
) -> LoraContents:
    """The layers of a LoRA state dict. `source` names the file in errors; `metadata` is the safetensors
    `__metadata__`, where diffusers keeps PEFT's `lora_alpha` for files without `.alpha` keys."""
    parts: dict[str, dict[str, str]] = defaultdict(dict)
    formats: Counter[str] = Counter()
    unsupported = []
    for key in tensors:
        parsed = parse_key(key)
        if parsed is None:
            unsupported.append(key)
            continue
        if parsed.format is not None:
            formats[parsed.format] += 1
        parts[parsed.layer][parsed.part or key] = key  # an unknown part is kept under its own key
    if not formats:
        raise SgmError(f"{source} holds no LoRA layers (no lora_down/lora_up, lora_A/lora_B or lora.down/up keys)")
    peft_alpha = _peft_alphas(metadata)
    layers = []
    for name, found in parts.items():
        if set(found) - {DOWN, UP, ALPHA} or DOWN not in found or UP not in found:
            unsupported.extend(found.values())
            continue
        down, up = tensors[found[DOWN]], tensors[found[UP]]
        if down.ndim not in (2, 4) or up.ndim != down.ndim or up.shape[1] != down.shape[0]:
            raise SgmError(
                f"{source}: {found[UP]} {list(up.shape)} and {found[DOWN]} {list(down.shape)} are not the two "
                "factors of one low-rank update (up [out, rank], down [rank, in], or their 4-D conv forms)"
            )
        alpha = _scalar(tensors[found[ALPHA]]) if ALPHA in found else peft_alpha(name)
        layers.append(LoraLayer(name, down, up, alpha, list(found.values())))
    return LoraContents(formats.most_common(1)[0][0], layers, sorted(unsupported))


def _scalar(alpha: torch.Tensor) -> float | None:
    """A stored alpha's value; None for a meta tensor (a file read for its shapes only)."""
    return None if alpha.is_meta else float(alpha.float().reshape(-1)[0])


def _peft_alphas(metadata: Mapping[str, str] | None):
    """`layer name -> alpha or None` from diffusers' `lora_adapter_metadata` (PEFT's LoraConfig per component,
    keys like `unet.lora_alpha` and `unet.alpha_pattern`)."""
    try:
        config = json.loads((metadata or {}).get("lora_adapter_metadata") or "{}")
    except json.JSONDecodeError:
        config = {}

    def alpha(layer: str) -> float | None:
        component, _, path = layer.partition(".")
        # PEFT matches a pattern against the end of a module's dotted name.
        for pattern, value in (config.get(f"{component}.alpha_pattern") or {}).items():
            if re.fullmatch(rf"(.*\.)?(?:{pattern})", path):
                return float(value)
        value = config.get(f"{component}.lora_alpha")
        return None if value is None else float(value)

    return alpha
