"""Checks on a merged training config before anything is built or written: its interpolations resolve, and every
`{target, params}` block names only parameters its target takes.

Without this, a typo such as `model.params.typo_key=3` surfaces as a TypeError traceback from deep inside the
constructor; here it is one line naming the key.
"""

import inspect
from collections.abc import Iterator, Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from sgm.core.config import ConfigError, resolve

# The reference's "nothing to build" targets.
EMPTY_TARGETS = ("__is_first_stage__", "__is_unconditional__")


def resolved_config(config: DictConfig) -> dict:
    """The config as plain data with every `${...}` resolved; an interpolation that cannot be is a ConfigError."""
    try:
        return OmegaConf.to_container(config, resolve=True)
    except OmegaConfBaseException as error:
        key = getattr(error, "full_key", None)
        message = str(error).splitlines()[0]
        raise ConfigError(f"{key}: {message}" if key else message) from None


def _target_blocks(node: Any, key_path: str) -> Iterator[tuple[str, Mapping]]:
    """Every mapping with a string `target`, with its key path, depth first."""
    if isinstance(node, Mapping):
        if isinstance(node.get("target"), str):
            yield key_path, node
        for key, value in node.items():
            yield from _target_blocks(value, f"{key_path}.{key}" if key_path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _target_blocks(value, f"{key_path}[{i}]")


def _accepted_names(factory: Any) -> set[str] | None:
    """The keyword parameters `factory` takes, or None when it takes any (`**kwargs`) or cannot be inspected."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def check_parameters(config: Mapping) -> None:
    """Every `{target, params}` block in `config` (plain data) passes only parameters its target accepts."""
    for key_path, block in _target_blocks(config, ""):
        params = block.get("params") or {}
        if block["target"] in EMPTY_TARGETS or not isinstance(params, Mapping):
            continue
        factory = resolve(block["target"], key_path=f"{key_path}.target")
        accepted = _accepted_names(factory)
        unknown = [name for name in params if accepted is not None and name not in accepted]
        if unknown:
            name = getattr(factory, "__qualname__", block["target"])
            raise ConfigError(
                f"{key_path}.params.{unknown[0]}: {name} has no parameter {unknown[0]!r} "
                f"(it takes {', '.join(sorted(accepted)) or 'none'})"
            )
