"""`FILE[:WEIGHT]`, the way users name a LoRA and its weight (`--lora style.safetensors:0.8`, repeatable)."""

import math
from pathlib import Path

from sgm.core.errors import SgmError


def parse_lora_spec(text: str) -> tuple[Path, float]:
    """`(path, weight)` from `FILE[:WEIGHT]`; the weight defaults to 1. Only a number after the last `:` is a
    weight, so paths with colons (`C:\\loras\\a.safetensors`) need no escaping."""
    path, colon, weight = text.rpartition(":")
    if colon:
        try:
            value = float(weight)
        except ValueError:
            value = None
        if value is not None:
            if not math.isfinite(value) or not path:
                raise SgmError(f"--lora {text!r}: expected FILE[:WEIGHT] with a finite number as WEIGHT")
            return Path(path), value
    if not text:
        raise SgmError("--lora needs a file: FILE[:WEIGHT], e.g. style.safetensors:0.8")
    return Path(text), 1.0
