"""GroupNorm (Wu & He 2018), optionally followed by SiLU, and LayerNorm (Ba et al. 2016).

Statistics are computed in at least fp32 (fp64 stays fp64) and the result is cast back to the input's dtype.
"""

import torch
import torch.nn.functional as F

from sgm.kernels.backend import check_backend, default_backend, launches_are_free

ACTIVATIONS = (None, "silu")


def group_norm_torch(
    x: torch.Tensor,
    num_groups: int,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    eps: float,
    activation: str | None = None,
) -> torch.Tensor:
    compute_dtype = torch.promote_types(x.dtype, torch.float32)
    y = F.group_norm(
        x.to(compute_dtype),
        num_groups,
        None if weight is None else weight.to(compute_dtype),
        None if bias is None else bias.to(compute_dtype),
        eps,
    )
    if activation == "silu":
        y = F.silu(y)
    return y.to(x.dtype)


def layer_norm_torch(
    x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None, eps: float
) -> torch.Tensor:
    compute_dtype = torch.promote_types(x.dtype, torch.float32)
    y = F.layer_norm(
        x.to(compute_dtype),
        x.shape[-1:],
        None if weight is None else weight.to(compute_dtype),
        None if bias is None else bias.to(compute_dtype),
        eps,
    )
    return y.to(x.dtype)


def _resolve(backend: str, x: torch.Tensor) -> str:
    name = check_backend(backend)
    if name == "auto":
        name = default_backend()
    if name == "auto":
        from sgm.kernels.triton_dispatch import triton_norm_supported

        name = "triton" if launches_are_free() and triton_norm_supported(x) else "torch"  # as attention's auto
    return "triton" if name == "triton" else "torch"


def group_norm(
    x: torch.Tensor,
    num_groups: int,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = 1e-5,
    activation: str | None = None,
    *,
    backend: str = "auto",
) -> torch.Tensor:
    """GroupNorm over `[batch, channels, *spatial]` (NCHW or the 5-D video layout), then `activation`."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}: choose one of {ACTIVATIONS}")
    if _resolve(backend, x) == "triton":
        from sgm.kernels.triton_dispatch import triton_group_norm

        return triton_group_norm(x, num_groups, weight, bias, eps, activation)
    return group_norm_torch(x, num_groups, weight, bias, eps, activation)


def layer_norm(
    x: torch.Tensor,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = 1e-5,
    *,
    backend: str = "auto",
) -> torch.Tensor:
    """LayerNorm over the last dimension."""
    if _resolve(backend, x) == "triton":
        from sgm.kernels.triton_dispatch import triton_layer_norm

        return triton_layer_norm(x, weight, bias, eps)
    return layer_norm_torch(x, weight, bias, eps)
