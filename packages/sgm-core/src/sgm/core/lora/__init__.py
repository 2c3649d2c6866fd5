"""LoRA files (kohya / AUTOMATIC1111, diffusers-peft, older diffusers) applied to models in the official layout.

`apply_loras(model, [(path, weight), ...], mode="merge" | "side")` merges them into the weights or keeps them beside
(then `set_weights` / `remove` per request); `describe_lora(path, layouts)` says which models a file fits (for
`sgm inspect`, after `is_lora_file(path)`); `parse_lora_spec("FILE[:WEIGHT]")` reads the option users write.
"""

from sgm.core.lora.apply import MERGE, SIDE, AppliedLoras, LoraReport, apply_loras
from sgm.core.lora.describe import LoraDescription, LoraFit, describe_lora
from sgm.core.lora.files import is_lora_file, read_lora
from sgm.core.lora.grouping import LoraContents, LoraLayer
from sgm.core.lora.spec import parse_lora_spec
from sgm.core.lora.targets import Slot, lora_slots

__all__ = [
    "MERGE",
    "SIDE",
    "AppliedLoras",
    "LoraContents",
    "LoraDescription",
    "LoraFit",
    "LoraLayer",
    "LoraReport",
    "Slot",
    "apply_loras",
    "describe_lora",
    "is_lora_file",
    "lora_slots",
    "parse_lora_spec",
    "read_lora",
]
