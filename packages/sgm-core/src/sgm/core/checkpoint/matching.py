"""Which catalog models a checkpoint file fits, judged from its keys and shapes (the safetensors header only)."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sgm.core.checkpoint.layouts import LayoutDiff, compare_layouts
from sgm.core.checkpoint.reading import Layout, read_layout
from sgm.core.errors import SgmError


@dataclass
class ModelMatch:
    name: str
    diff: LayoutDiff
    named_like_file: bool  # the file has one of the model's official names


def catalog_layouts(names: Iterable[str] | None = None) -> tuple[dict[str, Layout], dict[str, str]]:
    """Layouts of catalog models, and for models whose layout cannot be computed here, why not."""
    from sgm.core import catalog

    layouts, unavailable = {}, {}
    for name in catalog.CATALOG if names is None else names:
        try:
            layouts[name] = catalog.expected_layout(name)
        except (
            SgmError,
            ValueError,
            ImportError,
            TypeError,
            KeyError,
        ) as error:  # a model package or class not installed
            unavailable[name] = str(error).splitlines()[0] if str(error) else type(error).__name__
    return layouts, unavailable


def _file_names(name: str) -> tuple[str, ...]:
    from sgm.core import catalog

    return catalog.CATALOG[name].files if name in catalog.CATALOG else ()


def rank_models(
    path: str | Path, layouts: Mapping[str, Layout] | None = None, *, allow_pickle: bool = False
) -> list[ModelMatch]:
    """Every model of `layouts` (default: the catalog's) with its diff to the file, best fit first; among equal
    fits, models whose official file name is the file's name come first."""
    file_layout = read_layout(path, allow_pickle=allow_pickle)
    layouts = catalog_layouts()[0] if layouts is None else layouts
    file_name = Path(path).name
    matches = [
        ModelMatch(name, compare_layouts(layout, file_layout), file_name in _file_names(name))
        for name, layout in layouts.items()
    ]
    return sorted(matches, key=lambda match: (match.diff.problems, not match.named_like_file))


def match_models(
    path: str | Path, layouts: Mapping[str, Layout] | None = None, *, allow_pickle: bool = False
) -> list[str]:
    """Names of the models whose layout the file fits (same keys and shapes, benign differences aside)."""
    return [match.name for match in rank_models(path, layouts, allow_pickle=allow_pickle) if match.diff.fits]
