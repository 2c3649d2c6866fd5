"""Telling a user which name they meant: model, sampler and option names compared case- and punctuation-blind."""

import difflib
import re
from collections.abc import Iterable


def normalized(name: str) -> str:
    """`SDXL-Base`, `sdxl_base` and `sdxl base` all read `sdxlbase`."""
    return re.sub(r"[^a-z0-9.]", "", name.lower())


def closest(name: str, choices: Iterable[str], *, count: int = 3) -> str:
    """`: did you mean a, b?` for the choices nearest to `name` (empty when none is near)."""
    choices = list(choices)
    by_normal = {normalized(choice): choice for choice in choices}
    key = normalized(name)
    near = [by_normal[n] for n in difflib.get_close_matches(key, by_normal, n=count, cutoff=0.5)]
    near += [choice for n, choice in by_normal.items() if key and key in n and choice not in near]
    return f": did you mean {', '.join(near[:count])}?" if near else ""
