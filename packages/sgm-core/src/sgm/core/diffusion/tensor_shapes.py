"""Small shape helpers shared by the diffusion modules."""

import torch


def append_dims(x: torch.Tensor, target_dims: int) -> torch.Tensor:
    """`x` with trailing singleton dimensions added until it has `target_dims` dimensions (for broadcasting)."""
    missing = target_dims - x.ndim
    if missing < 0:
        raise ValueError(f"tensor has {x.ndim} dimensions, more than the {target_dims} asked for")
    return x[(...,) + (None,) * missing]


def append_zero(x: torch.Tensor) -> torch.Tensor:
    """The 1-d tensor `x` with a trailing 0 (the final, noise-free sigma of a schedule)."""
    return torch.cat([x, x.new_zeros([1])])
