"""Layouts (`{key: [shape, dtype]}`) of models and files, and what differs between two of them."""

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from sgm.core.checkpoint.keys import canonical_keys, is_ignored, is_optional
from sgm.core.checkpoint.reading import Layout, dtype_name


def layout_of(model_or_state_dict: nn.Module | Mapping[str, torch.Tensor]) -> Layout:
    """`{key: [shape, dtype]}` of a module's state dict (meta tensors are fine) or of a state dict, sorted by key."""
    if isinstance(model_or_state_dict, nn.Module):
        model_or_state_dict = model_or_state_dict.state_dict(keep_vars=True)
    return {key: [list(t.shape), dtype_name(t.dtype)] for key, t in sorted(model_or_state_dict.items())}


def prefix_group(key: str) -> str:
    """The group a key is counted in: its first two names, plus an index that follows (`conditioner.embedders.0`)."""
    parts = key.split(".")
    depth = 3 if len(parts) > 3 and parts[2].isdigit() else 2
    return ".".join(parts[:depth]) + (".*" if len(parts) > depth else "")


def summarize_keys(keys: Iterable[str], what: str) -> list[str]:
    """One line per prefix group, e.g. `first_stage_model.decoder.*: 12 missing`."""
    counts = Counter(prefix_group(key) for key in keys)
    return [f"{group}: {count} {what}" for group, count in sorted(counts.items())]


@dataclass
class LayoutDiff:
    """How a checkpoint's keys and shapes differ from a model's, after renames and benign differences."""

    renames: dict[str, str] = field(default_factory=dict)  # file key -> model key, for keys the model has
    missing: list[str] = field(default_factory=list)  # model keys the file lacks (and needs)
    unexpected: list[str] = field(default_factory=list)  # file keys the model has no place for
    mismatched: list[tuple[str, list[int], list[int]]] = field(default_factory=list)  # key, model shape, file shape
    ignored: list[str] = field(default_factory=list)  # file keys known to be unused (ldm schedule, EMA, optional)
    absent_optional: list[str] = field(default_factory=list)  # optional model keys the file lacks

    @property
    def fits(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    @property
    def problems(self) -> int:
        return len(self.missing) + len(self.unexpected) + len(self.mismatched)

    def summary(self) -> list[str]:
        """Short lines grouped by prefix; empty when the layouts fit."""
        lines = summarize_keys(self.missing, "missing") + summarize_keys(self.unexpected, "unexpected")
        for key, expected, found in self.mismatched[:5]:
            lines.append(f"{key}: shape {found} in the file, {expected} in the model")
        if len(self.mismatched) > 5:
            lines.append(f"... {len(self.mismatched) - 5} more keys with other shapes")
        return lines


def compare_layouts(expected: Layout, actual: Layout) -> LayoutDiff:
    """Compare a model's layout (`expected`) with a checkpoint's (`actual`); dtypes are not compared (files are
    usually fp16), shapes and key sets are."""
    diff = LayoutDiff()
    for file_key, model_key in canonical_keys(actual, expected).items():
        if model_key in expected:
            diff.renames[file_key] = model_key
            model_shape, file_shape = list(expected[model_key][0]), list(actual[file_key][0])
            if model_shape != file_shape:
                diff.mismatched.append((model_key, model_shape, file_shape))
        elif is_ignored(file_key) or is_optional(model_key):
            diff.ignored.append(file_key)
        else:
            diff.unexpected.append(file_key)
    loaded = set(diff.renames.values())
    for key in expected:
        if key not in loaded:
            (diff.absent_optional if is_optional(key) else diff.missing).append(key)
    return diff
