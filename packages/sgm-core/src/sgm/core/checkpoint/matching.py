"""Which models a checkpoint file fits, judged from its keys and shapes (the safetensors header only), given the
models' layouts (the model catalog provides them)."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sgm.core.checkpoint.layouts import LayoutDiff, compare_layouts
from sgm.core.checkpoint.reading import Layout, read_layout


@dataclass
class ModelMatch:
    name: str
    diff: LayoutDiff
    named_like_file: bool  # the file has one of the model's official names


def rank_models(
    path: str | Path,
    layouts: Mapping[str, Layout],
    *,
    file_names: Mapping[str, tuple[str, ...]] | None = None,
    allow_pickle: bool = False,
) -> list[ModelMatch]:
    """Every model of `layouts` with its diff to the file, best fit first; among equal fits, models whose official
    file name (`file_names[model]`) is the file's name come first."""
    file_layout = read_layout(path, allow_pickle=allow_pickle)
    file_name = Path(path).name
    file_names = file_names or {}
    matches = [
        ModelMatch(name, compare_layouts(layout, file_layout), file_name in file_names.get(name, ()))
        for name, layout in layouts.items()
    ]
    return sorted(matches, key=lambda match: (match.diff.problems, not match.named_like_file))


def match_models(
    path: str | Path,
    layouts: Mapping[str, Layout],
    *,
    file_names: Mapping[str, tuple[str, ...]] | None = None,
    allow_pickle: bool = False,
) -> list[str]:
    """Names of the models whose layout the file fits (same keys and shapes, benign differences aside)."""
    ranked = rank_models(path, layouts, file_names=file_names, allow_pickle=allow_pickle)
    return [match.name for match in ranked if match.diff.fits]
