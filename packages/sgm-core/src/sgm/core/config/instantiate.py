"""Building objects from `{target, params}` blocks, as the reference's `instantiate_from_config` does.

`params` are passed as they are; a class that takes `*_config` parameters builds those blocks itself. Only the
classes and functions that an installed package registers (`sgm.core.config.registry`, after mapping the reference's
names) can be built, and nothing is imported before the name is found there, so a config can never name `os.system`,
a checkpoint writer or any other code that is not meant to be built from a config.
"""

import difflib
import importlib
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from sgm.core.config.registry import config_registry
from sgm.core.errors import SgmError

# The reference treats these two literal strings as "nothing to build".
_EMPTY_TARGETS = ("__is_first_stage__", "__is_unconditional__")


class ConfigError(SgmError, ValueError):
    """A config that cannot be used; the message names the key path and what to change."""


def resolve(target: str, *, key_path: str = "target") -> Any:
    """The class or function that `target` names, mapping reference names (`sgm.modules...`) to ours."""
    if not isinstance(target, str) or not target:
        raise ConfigError(f"{key_path}: expected a dotted name such as 'sgm.core.engine.DiffusionEngine', got {target!r}")
    registry = config_registry()
    path = registry.reference_targets.get(target, target)
    if not registry.allows(path):
        nearest = difflib.get_close_matches(path, sorted(registry.config_targets), n=1)
        hint = f"did you mean {nearest[0]!r}?" if nearest else "configs may only name the classes packages register"
        raise ConfigError(f"{key_path}: {target!r} is not allowed in a config ({hint})")
    module_name, _, attribute = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise ConfigError(f"{key_path}: {target!r} needs module {error.name!r}, which is not installed") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ConfigError(f"{key_path}: module {module_name!r} has no {attribute!r} (from target {target!r})") from None


def instantiate(node: Mapping | DictConfig | None, *, key_path: str = "config", **extra: Any) -> Any:
    """Build `target(**params, **extra)`; `None` and the reference's `__is_unconditional__` give None."""
    if node is None:
        return None
    if isinstance(node, DictConfig):
        node = OmegaConf.to_container(node, resolve=True)
    if not isinstance(node, Mapping):
        raise ConfigError(f"{key_path}: expected a mapping with a 'target' key, got {type(node).__name__}")
    if "target" not in node:
        if node in _EMPTY_TARGETS:
            return None
        raise ConfigError(f"{key_path}: missing 'target' (the dotted name of the class to build)")
    if node["target"] in _EMPTY_TARGETS:
        return None
    factory = resolve(node["target"], key_path=f"{key_path}.target")
    params = node.get("params") or {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"{key_path}.params: expected a mapping, got {type(params).__name__}")
    return factory(**dict(params), **extra)
