"""The reference runs its CLIP encoders under CUDA autocast; this reproduces that (fp64 tensors are never cast)."""

import torch


def reference_autocast(device: torch.device | str, enabled: bool = True) -> torch.autocast:
    """CUDA autocast in the current autocast dtype (fp16 unless set otherwise) when `device` is a CUDA device.

    Elsewhere it is disabled, so CPU runs compute in the weights' own dtype.
    """
    on_cuda = torch.device(device).type == "cuda"
    return torch.autocast(
        "cuda" if on_cuda else "cpu",
        dtype=torch.get_autocast_dtype("cuda") if on_cuda else None,
        enabled=enabled and on_cuda,
        cache_enabled=torch.is_autocast_cache_enabled(),
    )
