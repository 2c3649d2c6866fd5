"""Building models without allocating or initializing their parameters, for layouts and for loading checkpoints."""

import contextlib
import functools
from collections.abc import Callable, Iterator

import torch
from torch import nn


def _skipping_meta(init: Callable) -> Callable:
    @functools.wraps(init)
    def initialize(tensor: torch.Tensor, *args, **kwargs):
        # Random init of a meta tensor computes nothing, yet its first call imports torch's whole decomposition
        # table (seconds); real tensors (buffers) are initialized as usual.
        return tensor if tensor.is_meta else init(tensor, *args, **kwargs)

    return initialize


@contextlib.contextmanager
def _no_meta_init() -> Iterator[None]:
    originals = {
        name: getattr(nn.init, name)
        for name in dir(nn.init)
        if name.endswith("_") and not name.startswith("_") and callable(getattr(nn.init, name))
    }
    for name, init in originals.items():
        setattr(nn.init, name, _skipping_meta(init))
    try:
        yield
    finally:
        for name, init in originals.items():
            setattr(nn.init, name, init)


@contextlib.contextmanager
def empty_parameters() -> Iterator[None]:
    """Build modules with parameters on the `meta` device (no memory, no init cost) while buffers are computed
    for real, so buffers that no checkpoint carries (schedules, masks, normalization constants) still hold values."""
    register = nn.Module.register_parameter

    def register_on_meta(module: nn.Module, name: str, param: nn.Parameter | None) -> None:
        if param is not None and param.device.type != "meta":
            param = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
        register(module, name, param)

    nn.Module.register_parameter = register_on_meta
    try:
        with _no_meta_init():
            yield
    finally:
        nn.Module.register_parameter = register
