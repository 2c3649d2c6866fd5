"""Configs are data: YAML files merged left to right, and `{target, params}` blocks built from an allowlist."""

from sgm.core.config.instantiate import ConfigError, instantiate, resolve
from sgm.core.config.loader import load_config

__all__ = ["ConfigError", "instantiate", "load_config", "resolve"]
