"""Every `target` in the reference's YAML configs resolves to one of our classes, and the configs load unchanged."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from sgm.core.config import load_config, resolve
from sgm.core.config.registry import config_registry

REFERENCE_TARGETS = config_registry().reference_targets

CONFIG_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "configs"


def _targets(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "target" and isinstance(value, str):
                yield path or "<root>", value
            else:
                yield from _targets(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _targets(value, f"{path}[{index}]")


def _reference_configs() -> list[Path]:
    return sorted(CONFIG_ROOT.rglob("*.yaml")) if CONFIG_ROOT.is_dir() else []


def _all_targets() -> list[str]:
    found = set()
    for config in _reference_configs():
        found.update(target for _, target in _targets(OmegaConf.to_container(OmegaConf.load(config))))
    return sorted(found)


pytestmark = pytest.mark.skipif(not CONFIG_ROOT.is_dir(), reason="../shared/reference/configs is not present")


@pytest.mark.parametrize("config", _reference_configs(), ids=lambda p: str(p.relative_to(CONFIG_ROOT)))
def test_reference_config_loads_with_interpolations(config):
    merged = load_config(config)
    OmegaConf.to_container(merged, resolve=True)  # `${N_FRAMES}` and friends resolve


@pytest.mark.parametrize("target", _all_targets())
def test_reference_target_resolves(target):
    assert target in REFERENCE_TARGETS or not target.startswith("sgm."), f"{target} has no alias"
    assert callable(resolve(target))
