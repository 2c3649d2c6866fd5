"""The change a LoRA layer makes to one weight: `weight * alpha / rank * up @ down` (Hu et al. 2021, "LoRA: Low-Rank
Adaptation of Large Language Models", section 4.1).

For a convolution (LoCon) down is a `[rank, in, kh, kw]` kernel and up a `[out, rank, 1, 1]` one: the update is
`up.flatten(1) @ down.flatten(1)` reshaped to the weight's `[out, in, kh, kw]`. The same reshape lets a linear
LoRA change a 1x1 convolution and back (SD 1's conv `proj_in` vs SD 2's linear one). Computed in fp32.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from sgm.core.errors import SgmError
from sgm.core.lora.grouping import LoraLayer


@dataclass
class Contribution:
    """One LoRA layer's part in one weight: its factors (on the weight's device) and where it goes."""

    lora: int  # which of the applied LoRAs it comes from (its weight is looked up by this index)
    down: torch.Tensor  # [rank, in * kh * kw], in the file's dtype
    up: torch.Tensor  # [out, rank]
    scale: float  # alpha / rank
    rows: slice | None  # the rows of the weight it changes; None for all

    def delta(self, weight: float, shape: Sequence[int]) -> torch.Tensor:
        return (self.up.float() @ self.down.float()).reshape(shape) * (weight * self.scale)


def fits(layer: LoraLayer, shape: Sequence[int]) -> bool:
    """Whether the layer's update has as many rows and as many numbers per row as the weight rows it changes."""
    return layer.up.shape[0] == shape[0] and math.prod(layer.down.shape[1:]) == math.prod(shape[1:])


def rows_shape(shape: Sequence[int], rows: slice | None) -> list[int]:
    """The shape of the part of a weight of `shape` that `rows` selects."""
    return list(shape) if rows is None else [rows.stop - rows.start, *shape[1:]]


def check_fits(layer: LoraLayer, shape: Sequence[int], key: str, source: str) -> None:
    """Refuses, naming the layer, a LoRA layer whose update does not have the shape of the rows it changes."""
    if not fits(layer, shape):
        update = [layer.up.shape[0], *layer.down.shape[1:]]
        raise SgmError(
            f"{source}: layer {layer.name} changes {key} of shape {list(shape)}, but its update up @ down has shape "
            f"{update}: the LoRA was made for another model"
        )


def contribution(layer: LoraLayer, lora: int, rows: slice | None, device: torch.device) -> Contribution:
    factors = (t.flatten(1).to(device) for t in (layer.down, layer.up))
    return Contribution(lora, *factors, layer.scale, rows)


def summed_delta(
    contributions: Sequence[Contribution], weights: Sequence[float], weight: torch.Tensor
) -> torch.Tensor | None:
    """The fp32 sum of the contributions' updates to `weight`, each times its LoRA's weight; None when all are 0.

    Merging and side layers both add exactly this to the weight, so the two give the same numbers."""
    total = None
    for part in contributions:
        if weights[part.lora] == 0:
            continue
        if total is None:
            total = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        target = total if part.rows is None else total[part.rows]
        target += part.delta(weights[part.lora], target.shape)
    return total


def add_delta(weight: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """`weight + delta` computed in fp32 and returned in the weight's dtype and memory format."""
    return weight.to(torch.float32, copy=True).add_(delta).to(weight.dtype)
