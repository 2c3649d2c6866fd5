"""What one key of a LoRA file is: which layer it belongs to, which part it holds, and which format names it.

The formats people have (names as their tools write them):
- kohya (sd-scripts, AUTOMATIC1111, LyCORIS' LoCon): `lora_unet_<path with _>.lora_down.weight`, `.lora_up.weight`,
  `.alpha`; text encoders `lora_te_` (SD 1/2), `lora_te1_` / `lora_te2_` (SDXL).
- diffusers-peft: `unet.<module path>.lora_A.weight` / `.lora_B.weight` (optionally `.lora_A.<adapter>.weight`),
  `text_encoder.` / `text_encoder_2.` for the text encoders.
- diffusers-old: `<module path>.lora.down.weight` / `.lora.up.weight`, `.lora_linear_layer.down.weight`, and the
  attention processors' `<attn>.processor.to_q_lora.down.weight` (`to_out_lora` is `to_out.0`).
"""

import re
from dataclasses import dataclass

KOHYA, PEFT, DIFFUSERS_OLD = "kohya", "diffusers-peft", "diffusers-old"

# The parts this package applies; any other part of a layer (lora_mid, dora_scale, LoHa's hada_*) is out of scope.
DOWN, UP, ALPHA = "down", "up", "alpha"

_KOHYA = re.compile(r"^(lora_(?:unet|te\d?)_[^.]+)\.(.+)$")
_KOHYA_PARTS = {"lora_down.weight": DOWN, "lora_up.weight": UP, "alpha": ALPHA}
_PEFT = re.compile(r"^(.+)\.lora_([AB])(?:\.[^.]+)?\.weight$")
_OLD_LINEAR = re.compile(r"^(.+)\.(?:lora|lora_linear_layer)\.(down|up)\.weight$")
_OLD_PROCESSOR = re.compile(r"^(.+?)(?:\.processor)?\.(to_q|to_k|to_v|to_out)_lora\.(down|up)\.weight$")
_ALPHA = re.compile(r"^(.+)\.alpha$")

# An attention processor's projection, by the module it changes in a UNet and in a text encoder (`self_attn`).
_PROCESSOR_TARGETS = {"to_q": "to_q", "to_k": "to_k", "to_v": "to_v", "to_out": "to_out.0"}
_TEXT_PROCESSOR_TARGETS = {"to_q": "q_proj", "to_k": "k_proj", "to_v": "v_proj", "to_out": "out_proj"}


@dataclass(frozen=True)
class LoraKey:
    layer: str  # the layer's name in the file's own naming (`lora_unet_..._to_q`, `unet.down_blocks...to_q`)
    part: str | None  # DOWN, UP, ALPHA, or None for a part this package does not apply
    format: str | None  # None for a diffusers `.alpha`: its file's other keys say which format it is


def parse_key(key: str) -> LoraKey | None:
    """The layer and part a LoRA file's key holds; None for a key of no known LoRA format."""
    if match := _KOHYA.match(key):
        return LoraKey(match[1], _KOHYA_PARTS.get(match[2]), KOHYA)
    if match := _PEFT.match(key):
        return LoraKey(match[1], DOWN if match[2] == "A" else UP, PEFT)
    if match := _OLD_LINEAR.match(key):
        return LoraKey(match[1], match[2], DIFFUSERS_OLD)
    if match := _OLD_PROCESSOR.match(key):
        parent, projection = match[1], match[2]
        targets = _TEXT_PROCESSOR_TARGETS if parent.endswith("self_attn") else _PROCESSOR_TARGETS
        return LoraKey(f"{parent}.{targets[projection]}", match[3], DIFFUSERS_OLD)
    if match := _ALPHA.match(key):
        return LoraKey(match[1], ALPHA, None)
    return None
