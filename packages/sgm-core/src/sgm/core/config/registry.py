"""The targets configs may build, gathered from every installed sgm package.

Each package declares, in its `pyproject.toml`, an entry point in the group `sgm.config` naming its registry module:
`REFERENCE_TARGETS` (the reference's dotted names mapped to its own classes) and `CONFIG_TARGETS` (module -> the
classes and functions in it that a config may build). The allowlist is per class, not per module: a module that
holds a model also holds helpers (a checkpoint writer, a file reader) that must never be reachable from a config.
Nothing is imported until a config asks for it, and no package names one above it.
"""

import functools
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any

ENTRY_POINT_GROUP = "sgm.config"


@dataclass(frozen=True)
class ConfigRegistry:
    reference_targets: MappingProxyType  # reference name -> our dotted name
    config_targets: frozenset[str]  # dotted names of the classes and functions a config may build

    def allows(self, path: str) -> bool:
        return path in self.config_targets


def _dotted_names(targets: dict[str, tuple[str, ...]]) -> list[str]:
    return [f"{module}.{name}" for module, names in targets.items() for name in names]


@functools.cache
def config_registry() -> ConfigRegistry:
    """Every installed package's registry, merged (read once per process)."""
    references: dict[str, str] = {}
    targets: set[str] = set()
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        registry: Any = entry_point.load()
        references.update(registry.REFERENCE_TARGETS)
        targets.update(_dotted_names(registry.CONFIG_TARGETS))
    return ConfigRegistry(MappingProxyType(references), frozenset(targets))
