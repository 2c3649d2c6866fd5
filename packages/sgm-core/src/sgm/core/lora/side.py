"""LoRAs kept beside the weights: a parametrization that adds their update on every use of the weight.

Kept apart, a request can change each LoRA's weight (or switch it off with 0) without reloading the model, at the
price of recomputing `W + delta` whenever a layer runs (cheap next to the layer itself at these ranks). Merging
is the faster choice for LoRAs that stay. While they are attached, `state_dict()` names the base weight
`<module>.parametrizations.<name>.original` (torch's layout for parametrized tensors); `remove()` restores it.
"""

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils import parametrize

from sgm.core.lora.delta import Contribution, add_delta, summed_delta


class LoraParametrization(nn.Module):
    """`W -> W + sum_i weight_i * alpha_i / rank_i * up_i @ down_i`, the LoRAs' weights read at each call."""

    def __init__(self, contributions: Sequence[Contribution], weights: list[float]):
        super().__init__()
        self.weights = weights  # shared with the AppliedLoras that made it: set_weights changes it in place
        self.parts = [(part.lora, part.scale, part.rows) for part in contributions]
        for index, part in enumerate(contributions):  # buffers, so that moving the model moves the factors too
            self.register_buffer(f"down_{index}", part.down, persistent=False)
            self.register_buffer(f"up_{index}", part.up, persistent=False)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        contributions = [
            Contribution(lora, getattr(self, f"down_{index}"), getattr(self, f"up_{index}"), scale, rows)
            for index, (lora, scale, rows) in enumerate(self.parts)
        ]
        delta = summed_delta(contributions, self.weights, weight)
        return weight if delta is None else add_delta(weight, delta)


def attach(module: nn.Module, name: str, parametrization: LoraParametrization) -> None:
    parametrize.register_parametrization(module, name, parametrization)


def detach(module: nn.Module, name: str) -> None:
    """The base weight back as a plain parameter, unchanged."""
    parametrize.remove_parametrizations(module, name, leave_parametrized=False)


def has_lora_layers(model: nn.Module) -> bool:
    return any(isinstance(module, LoraParametrization) for module in model.modules())
