"""Full-size checkpoint files that take no disk space: a real safetensors header, and the data left as a hole."""

import json
import math
import struct
from collections.abc import Mapping
from pathlib import Path

import torch

from sgm.core.checkpoint.reading import SAFETENSORS_DTYPES, dtype_name

_CODES = {name: code for code, name in SAFETENSORS_DTYPES.items()}


def _itemsize(name: str) -> int:
    return torch.empty((), dtype=getattr(torch, name)).element_size()


def write_sparse_safetensors(
    path: str | Path, layout: Mapping[str, list], dtype: str | torch.dtype = "float16"
) -> Path:
    """Write a valid safetensors file with `layout`'s keys and shapes whose tensor data is a sparse hole (zeros).

    Floating-point entries are stored as `dtype`; integer and bool entries keep their own dtype. On filesystems
    with sparse files the result occupies a few kilobytes whatever its size.
    """
    storage = dtype_name(dtype) if isinstance(dtype, torch.dtype) else dtype
    header, offset = {}, 0
    for key, (shape, name) in sorted(layout.items()):
        stored = storage if getattr(torch, name).is_floating_point else name
        size = math.prod(shape) * _itemsize(stored)
        header[key] = {"dtype": _CODES[stored], "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the format pads the header so tensor data starts 8-byte aligned
    path = Path(path)
    with path.open("wb") as file:
        file.write(struct.pack("<Q", len(raw)) + raw)
        file.truncate(8 + len(raw) + offset)
    return path
