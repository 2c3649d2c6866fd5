"""Reading YAML configs: files merged left to right (later wins), then `key=value` dotlist overrides."""

from collections.abc import Iterable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from sgm.core.config.instantiate import ConfigError


def load_config(*paths: str | Path, overrides: Iterable[str] = ()) -> DictConfig:
    """Merge the YAML files at `paths` in order, then apply `overrides` such as `model.params.scale_factor=0.13`."""
    configs = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            configs.append(OmegaConf.load(path))
        except Exception as error:  # yaml's errors carry the line and column
            raise ConfigError(f"cannot read config {path}: {error}") from None
    overrides = list(overrides)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
    merged = OmegaConf.merge(*configs, OmegaConf.from_dotlist(overrides)) if configs or overrides else OmegaConf.create()
    assert isinstance(merged, DictConfig)
    return merged
