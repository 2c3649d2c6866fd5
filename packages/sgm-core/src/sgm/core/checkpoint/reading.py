"""Reading checkpoint files: safetensors (memory-mapped) always, pickled torch files only when asked for.

A layout is `{key: [shape, dtype]}` with dtype names as torch spells them without the `torch.` prefix.
"""

import json
import math
import struct
from collections.abc import Iterator
from pathlib import Path

import torch

from sgm.core.errors import SgmError

Layout = dict[str, list]

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")

# safetensors header dtype codes (https://github.com/huggingface/safetensors, "Format") and torch's names for them.
SAFETENSORS_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
}

_MAX_HEADER_BYTES = 100_000_000  # the format's own limit


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _existing_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise SgmError(f"checkpoint file not found: {path}")
    if not path.is_file():
        raise SgmError(f"{path} is not a file (expected a .safetensors checkpoint)")
    return path


def _is_safetensors(path: Path) -> bool:
    return path.suffix.lower() == ".safetensors"


def _check_pickle_allowed(path: Path, allow_pickle: bool) -> None:
    if _is_safetensors(path):
        return
    if path.suffix.lower() not in PICKLE_SUFFIXES:
        raise SgmError(f"{path}: unknown checkpoint type {path.suffix!r} (expected .safetensors, or .ckpt/.pt/.pth)")
    if not allow_pickle:
        raise SgmError(
            f"{path} is a pickled torch file; loading one needs the explicit flag --allow-pickle "
            "(allow_pickle=True), or convert it to .safetensors"
        )


def read_safetensors_header(path: str | Path) -> dict:
    """The JSON header of a safetensors file (tensor entries and `__metadata__`), without reading any tensor data."""
    path = _existing_file(path)
    size = path.stat().st_size
    with path.open("rb") as file:
        prefix = file.read(8)
        if len(prefix) < 8:
            raise SgmError(f"{path} is not a safetensors checkpoint (file too short)")
        (header_length,) = struct.unpack("<Q", prefix)
        if header_length > min(_MAX_HEADER_BYTES, size - 8):
            raise SgmError(f"{path} is not a safetensors checkpoint (bad header length)")
        raw = file.read(header_length)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):  # RecursionError: "[[[[..." nested too deep
        raise SgmError(f"{path} is not a safetensors checkpoint (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise SgmError(f"{path} is not a safetensors checkpoint (its header is not a JSON object)")
    data_bytes = size - 8 - header_length
    for key, entry in header.items():
        if key == "__metadata__" and isinstance(entry, dict):
            continue
        if not _valid_entry(entry, data_bytes):
            raise SgmError(f"{path} is a damaged safetensors checkpoint (entry {key!r} is invalid or truncated)")
    return header


def _counts(value: object, length: int | None = None) -> bool:
    """A JSON list of non-negative integers (of `length` items when given); bools are not counts."""
    return (isinstance(value, list) and (length is None or len(value) == length)
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value))  # fmt: skip


def _valid_entry(entry: object, data_bytes: int) -> bool:
    """A tensor entry as the format defines it: a known dtype, a shape of counts, and `[begin, end]` offsets inside
    the data whose span holds exactly the shape's elements."""
    if not isinstance(entry, dict) or entry.get("dtype") not in SAFETENSORS_DTYPES:
        return False
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if not _counts(shape) or not _counts(offsets, 2) or not offsets[0] <= offsets[1] <= data_bytes:
        return False
    itemsize = torch.empty(0, dtype=getattr(torch, SAFETENSORS_DTYPES[entry["dtype"]])).element_size()
    return offsets[1] - offsets[0] == math.prod(shape) * itemsize


def _unwrap(checkpoint: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("state_dict"), dict):
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, dict):
        raise SgmError(f"{path} holds a {type(checkpoint).__name__}, not a state dict")
    tensors = {key: value for key, value in checkpoint.items() if isinstance(value, torch.Tensor)}
    if not tensors:
        raise SgmError(f"{path} holds no tensors")
    return tensors


def _load_pickle(path: Path, device: str) -> dict[str, torch.Tensor]:
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True, mmap=True)
    except Exception as error:  # torch raises many types for damaged or non-torch files
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SgmError(f"{path} is not a readable torch checkpoint ({reason})") from None
    return _unwrap(checkpoint, path)


def read_layout(path: str | Path, *, allow_pickle: bool = False) -> Layout:
    """`{key: [shape, dtype]}` of a checkpoint file; for safetensors only the header is read."""
    path = _existing_file(path)
    _check_pickle_allowed(path, allow_pickle)
    if _is_safetensors(path):
        header = read_safetensors_header(path)
        return {
            key: [list(entry["shape"]), SAFETENSORS_DTYPES[entry["dtype"]]]
            for key, entry in sorted(header.items())
            if key != "__metadata__"
        }
    return {key: [list(t.shape), dtype_name(t.dtype)] for key, t in sorted(_load_pickle(path, "cpu").items())}


def iter_tensors(
    path: str | Path, keys: list[str] | None = None, *, allow_pickle: bool = False, device: str = "cpu"
) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield `(key, tensor)` one at a time (all keys, or `keys`), so a caller can convert each before the next."""
    path = _existing_file(path)
    _check_pickle_allowed(path, allow_pickle)
    if not _is_safetensors(path):
        tensors = _load_pickle(path, device)
        yield from ((key, tensors[key]) for key in (tensors if keys is None else keys))
        return
    read_safetensors_header(path)  # a clear message for damaged files before the library's own
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device=device) as file:
            for key in file.keys() if keys is None else keys:
                yield key, file.get_tensor(key)
    except SafetensorError as error:
        raise SgmError(f"{path} is not a readable safetensors checkpoint ({error})") from None


def load_state_dict(path: str | Path, *, allow_pickle: bool = False, device: str = "cpu") -> dict[str, torch.Tensor]:
    """All tensors of a checkpoint. `.safetensors` is memory-mapped; `.ckpt`/`.pt`/`.pth` need `allow_pickle=True`
    and are read with `weights_only=True` (a `state_dict` entry is unwrapped)."""
    return dict(iter_tensors(path, allow_pickle=allow_pickle, device=device))
