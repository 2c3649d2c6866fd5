"""Dimension-generic convolution and pooling constructors, and zero initialisation."""

import torch.nn as nn

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_AVG_POOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}


def _check_dims(dims: int) -> None:
    if dims not in _CONV:
        raise ValueError(f"dims must be 1, 2 or 3 (the number of spatial axes), got {dims!r}")


def conv_nd(dims: int, *args, **kwargs) -> nn.Module:
    """`nn.Conv1d`, `nn.Conv2d` or `nn.Conv3d` for `dims` spatial axes."""
    _check_dims(dims)
    return _CONV[dims](*args, **kwargs)


def avg_pool_nd(dims: int, *args, **kwargs) -> nn.Module:
    """`nn.AvgPool1d`, `nn.AvgPool2d` or `nn.AvgPool3d` for `dims` spatial axes."""
    _check_dims(dims)
    return _AVG_POOL[dims](*args, **kwargs)


def zero_module(module: nn.Module) -> nn.Module:
    """Set every parameter of `module` to zero (output layers start as the identity of a residual) and return it."""
    for parameter in module.parameters():
        parameter.detach().zero_()
    return module
