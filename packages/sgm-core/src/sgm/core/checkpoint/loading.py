"""Loading a checkpoint into a model whose parameters were never allocated, so weights live in memory once."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from sgm.core.checkpoint.layouts import LayoutDiff, compare_layouts, layout_of, summarize_keys
from sgm.core.checkpoint.reading import iter_tensors, read_layout
from sgm.core.errors import SgmError

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, "fp64": torch.float64}
# Layout dtype names a floating-point tensor of the model may be read from (fp8 files are upcast on load).
FLOAT_DTYPES = ("float64", "float32", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2")


def parse_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """`"fp16"`, `"bf16"`, `"fp32"`, `"fp64"`, a torch dtype, or None (keep the model's dtypes)."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise SgmError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    return DTYPES[dtype]


@dataclass
class LoadReport:
    """What a load did: how many tensors were assigned and how the checkpoint differed from the model."""

    source: str
    loaded: int
    diff: LayoutDiff

    def summary(self) -> str:
        lines = [f"{self.source}: loaded {self.loaded} tensors"]
        lines += summarize_keys(self.diff.ignored, "ignored (unused by this model)")
        lines += summarize_keys(self.diff.absent_optional, "absent (optional)")
        return "\n".join(lines + self.diff.summary())


def _target_dtype(model_tensor: torch.Tensor, is_parameter: bool, dtype: torch.dtype | None) -> torch.dtype:
    # Parameters take the requested dtype; buffers (e.g. fp32 sigmas) and integer tensors keep the model's.
    if dtype is not None and is_parameter and model_tensor.is_floating_point():
        return dtype
    return model_tensor.dtype


def _materialize_optional(model: nn.Module, keys: list[str], device: str, dtype: torch.dtype | None) -> None:
    """Optional tensors (the unused decoder of a conditioning VAE) that the file lacks: zeros, never meta."""
    current = model.state_dict(keep_vars=True)
    fill = {}
    for key in keys:
        tensor = current[key]
        if tensor.device.type == "meta":
            target = _target_dtype(tensor, isinstance(tensor, nn.Parameter), dtype)
            fill[key] = torch.zeros(tensor.shape, dtype=target, device=device)
    if fill:
        model.load_state_dict(fill, strict=False, assign=True)


def _named(keys: list[str], shown: int = 3) -> str:
    """`a, b, c and 12 more` keys: enough to find them in the file."""
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more


def _meta_tensors(model: nn.Module) -> list[str]:
    named = list(model.named_parameters()) + list(model.named_buffers())
    return [name for name, tensor in named if tensor.device.type == "meta"]


def load_checkpoint_into(
    model: nn.Module,
    path_or_state_dict: str | Path | Mapping[str, torch.Tensor],
    *,
    dtype: str | torch.dtype | None = None,
    strict: bool = True,
    allow_pickle: bool = False,
    device: str = "cpu",
) -> LoadReport:
    """Assign a checkpoint's tensors into `model` (built e.g. under `empty_parameters()` or on `meta`).

    Keys are checked before any data is read: with `strict`, a missing, unexpected or wrongly shaped key is an
    SgmError listing them by prefix; known-benign differences (ldm names, schedule buffers, recomputable buffers,
    unused conditioning-VAE decoders) are tolerated. `dtype` ("fp16", "bf16", "fp32") applies to floating-point
    parameters; buffers keep the model's dtype. Tensors are assigned (`assign=True`), not copied into place.
    Weights that cannot be right are refused with their keys named, before the model is touched: integer or boolean
    values where the model has floats (from the header, before any data is read), and NaN or infinite values
    (a scan of each tensor as it is read), which would otherwise give black or noise images with exit status 0.
    """
    dtype = parse_dtype(dtype)
    is_path = isinstance(path_or_state_dict, (str, Path))
    source = str(path_or_state_dict) if is_path else "state dict"
    file_layout = (
        read_layout(path_or_state_dict, allow_pickle=allow_pickle) if is_path else layout_of(path_or_state_dict)
    )
    model_tensors = model.state_dict(keep_vars=True)
    diff = compare_layouts(layout_of(model_tensors), file_layout)
    if diff.mismatched or (strict and not diff.fits):
        details = "; ".join(diff.summary())
        raise SgmError(f"{source} does not fit this model: {details}")
    not_float = [
        key
        for file_key, key in diff.renames.items()
        if model_tensors[key].is_floating_point() and file_layout[file_key][1] not in FLOAT_DTYPES
    ]
    if not_float:
        raise SgmError(f"{source} holds integer or boolean values where the model has weights ({_named(not_float)}): "
                       "the file is not a checkpoint of this model")  # fmt: skip

    tensors = (
        iter_tensors(path_or_state_dict, list(diff.renames), allow_pickle=allow_pickle, device=device)
        if is_path
        else ((key, path_or_state_dict[key]) for key in diff.renames)
    )
    state, not_finite = {}, []
    for file_key, tensor in tensors:
        key = diff.renames[file_key]
        target = model_tensors[key]
        state[key] = tensor.to(device=device, dtype=_target_dtype(target, isinstance(target, nn.Parameter), dtype))
        if state[key].is_floating_point() and not bool(torch.isfinite(state[key]).all()):
            not_finite.append(key)
    if not_finite:
        raise SgmError(f"{source} holds NaN or infinite values ({_named(not_finite)}): the file is damaged; "
                       "download or export it again")  # fmt: skip
    model.load_state_dict(state, strict=False, assign=True)
    _materialize_optional(model, diff.absent_optional, device, dtype)

    left_on_meta = _meta_tensors(model)
    if left_on_meta:
        groups = "; ".join(summarize_keys(left_on_meta, "without values"))
        raise SgmError(
            f"{source} leaves tensors of the model without values ({groups}): load a checkpoint that has them, or "
            "build the model under sgm.core.checkpoint.empty_parameters() so its buffers are computed"
        )
    model.to(device)
    return LoadReport(source=source, loaded=len(state), diff=diff)
