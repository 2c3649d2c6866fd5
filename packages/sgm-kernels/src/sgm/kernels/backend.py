"""Which implementation runs: the backend names, the process-wide default and how `auto` is read."""

import contextlib
import functools
import importlib.util
import os
from collections.abc import Iterator

BACKENDS = ("auto", "triton", "sdpa", "xformers", "math")
ENV_VAR = "SGM_ATTENTION_BACKEND"

_override: str | None = None


def check_backend(name: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    return name


def default_backend() -> str:
    """The backend that `backend="auto"` stands for: `use_backend(...)`, then $SGM_ATTENTION_BACKEND, then auto."""
    if _override is not None:
        return _override
    return check_backend(os.environ.get(ENV_VAR, "auto") or "auto")


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Run every attention and norm call inside the block with `name` (e.g. to compare backends on one model)."""
    global _override
    previous, _override = _override, check_backend(name)
    try:
        yield
    finally:
        _override = previous


@functools.cache
def xformers_available() -> bool:
    return importlib.util.find_spec("xformers") is not None


@functools.cache
def triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


def available_backends() -> list[str]:
    names = ["sdpa", "math"]
    if triton_available():
        names.insert(0, "triton")
    if xformers_available():
        names.append("xformers")
    return names
