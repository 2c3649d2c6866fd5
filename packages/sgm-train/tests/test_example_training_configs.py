"""Every `target` in the reference's example_training configs resolves to one of our classes."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from sgm.core.config import resolve

EXAMPLES = (
    Path(__file__).resolve().parents[3] / ".." / "shared" / "reference" / "configs" / "configs" / "example_training"
)
CONFIGS = sorted(EXAMPLES.rglob("*.yaml")) if EXAMPLES.is_dir() else []


def _targets(node, path="config"):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "target" and isinstance(value, str):
                yield path, value
            else:
                yield from _targets(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _targets(value, f"{path}[{i}]")


@pytest.mark.skipif(not CONFIGS, reason="reference configs not present (../shared/reference/configs)")
@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_target_resolves(config):
    targets = list(_targets(OmegaConf.to_container(OmegaConf.load(config))))
    assert targets
    for path, target in targets:
        assert callable(resolve(target, key_path=path)), f"{path}: {target}"
