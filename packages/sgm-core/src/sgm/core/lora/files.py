"""Reading a LoRA: a `.safetensors` file (its tensors, or only their shapes) or a state dict already in memory."""

from collections.abc import Mapping
from pathlib import Path

import torch

from sgm.core.checkpoint.reading import SAFETENSORS_DTYPES, load_state_dict, read_safetensors_header
from sgm.core.errors import SgmError
from sgm.core.lora.grouping import LoraContents, group_layers
from sgm.core.lora.keys import DOWN, UP, parse_key

LoraSource = str | Path | Mapping[str, torch.Tensor]


def source_name(source: LoraSource, index: int) -> str:
    """How reports and errors name a LoRA: its path, or its place in the list for a state dict."""
    return f"LoRA #{index + 1} (a state dict)" if isinstance(source, Mapping) else str(source)


def is_lora_file(path: str | Path) -> bool:
    """Whether a safetensors file holds LoRA layers (by its key names; only the header is read)."""
    header = read_safetensors_header(path)
    return any(parsed is not None and parsed.part in (DOWN, UP) for parsed in map(parse_key, header))


def read_lora(source: LoraSource, name: str, *, shapes_only: bool = False) -> LoraContents:
    """A LoRA's layers. With `shapes_only`, a file's header alone is read and the tensors are `meta` tensors (for
    matching shapes without reading the weights). Only safetensors files: a pickled file can run code on load."""
    if isinstance(source, Mapping):
        return group_layers(source, name)
    path = Path(source)
    if path.suffix.lower() != ".safetensors":
        raise SgmError(f"{path}: LoRA files are read as .safetensors only (convert a .ckpt/.pt/.bin LoRA first)")
    header = read_safetensors_header(path)  # checks that the file exists and is undamaged
    metadata = header.pop("__metadata__", None) or {}
    if shapes_only:
        dtypes = {code: getattr(torch, name) for code, name in SAFETENSORS_DTYPES.items()}
        tensors = {
            key: torch.empty(entry["shape"], dtype=dtypes[entry["dtype"]], device="meta")
            for key, entry in header.items()
        }
    else:
        tensors = load_state_dict(path)
    return group_layers(tensors, name, metadata)
