"""The targets configs may build, gathered from every installed sgm package.

Each package declares, in its `pyproject.toml`, an entry point in the group `sgm.config` naming its registry module:
`REFERENCE_TARGETS` (the reference's dotted names mapped to its own classes) and `CONFIG_MODULES` (the modules a
config may name directly). Nothing is imported until a config asks for it, and no package names one above it.
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
    config_modules: tuple[str, ...]  # modules (and their submodules) a target may come from

    def allows(self, path: str) -> bool:
        return any(path == module or path.startswith(module + ".") for module in self.config_modules)


@functools.cache
def config_registry() -> ConfigRegistry:
    """Every installed package's registry, merged (read once per process)."""
    targets: dict[str, str] = {}
    modules: list[str] = []
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        registry: Any = entry_point.load()
        targets.update(registry.REFERENCE_TARGETS)
        modules.extend(registry.CONFIG_MODULES)
    return ConfigRegistry(MappingProxyType(targets), tuple(dict.fromkeys(modules)))
