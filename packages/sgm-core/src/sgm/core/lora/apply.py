"""apply_loras: LoRAs, each with a weight, merged into a model's weights or attached beside them.

Works on any module whose state dict has the official layout: a DiffusionEngine, its UNet alone, a text encoder.
"""

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from sgm.core.errors import SgmError
from sgm.core.lora.delta import Contribution, add_delta, check_fits, contribution, rows_shape, summed_delta
from sgm.core.lora.files import LoraSource, read_lora, source_name
from sgm.core.lora.side import LoraParametrization, attach, detach, has_lora_layers
from sgm.core.lora.targets import lora_slots
from sgm.kernels import PackedConv2d, PackedLinear

MERGE, SIDE = "merge", "side"


@dataclass
class LoraReport:
    """What one LoRA changed: how many of its layers found their weight, and the keys that found none."""

    source: str
    format: str
    weight: float
    matched: int  # layers applied
    unmatched: list[str]  # the file's keys that changed nothing: no such layer in the model, or a part out of scope

    def summary(self) -> str:
        line = f"{self.source} ({self.format}, weight {self.weight:g}): {self.matched} layers applied"
        if self.unmatched:
            shown = ", ".join(self.unmatched[:3]) + (", ..." if len(self.unmatched) > 3 else "")
            line += f"; {len(self.unmatched)} keys matched nothing ({shown})"
        return line


class AppliedLoras:
    """The LoRAs `apply_loras` applied: their reports and, for side layers, the controls over them."""

    def __init__(
        self, mode: str, reports: list[LoraReport], weights: list[float], attached: list[tuple[nn.Module, str]]
    ):
        self.mode = mode
        self.reports = reports
        self._weights = weights  # side layers read this very list at every call
        self._attached = attached

    @property
    def weights(self) -> list[float]:
        return list(self._weights)

    def set_weights(self, weights: Sequence[float]) -> None:
        """New weights for the side LoRAs, one per LoRA in the order they were applied (0 switches one off)."""
        self._check_side("changed")
        if len(weights) != len(self._weights):
            raise SgmError(f"set_weights needs {len(self._weights)} weights (one per applied LoRA), got {len(weights)}")
        self._weights[:] = [_checked_weight(weight) for weight in weights]

    def remove(self) -> None:
        """Detaches the side LoRAs: the model is as it was before `apply_loras`."""
        self._check_side("removed")
        for module, name in self._attached:
            detach(module, name)
        self._attached.clear()

    def summary(self) -> list[str]:
        return [report.summary() for report in self.reports]

    def _check_side(self, what: str) -> None:
        if self.mode != SIDE:
            raise SgmError(f"LoRAs merged into the weights cannot be {what}: apply them with mode='side' for that")


def apply_loras(model: nn.Module, loras: Sequence[tuple[LoraSource, float]], mode: str = MERGE) -> AppliedLoras:
    """Applies each `(file or state dict, weight)` of `loras` to `model`, whose state dict has the official layout.

    mode "merge" adds `weight * alpha / rank * up @ down` to each weight it changes (summed in fp32, stored in the
    weight's dtype): fastest to run, fixed until the model is reloaded. mode "side" keeps the updates beside the
    weights (same numbers), so `set_weights` and `remove` on the result change them per request. A layer whose
    update does not fit its weight's shape is an error naming it; keys that match nothing are in the reports.
    """
    if mode not in (MERGE, SIDE):
        raise SgmError(f"unknown LoRA mode {mode!r}: use 'merge' or 'side'")
    if has_lora_layers(model):
        raise SgmError("the model already carries side LoRAs: call remove() on them before applying others")
    parameters = _parameters(model)
    slots = lora_slots({key: list(parameter.shape) for key, (_, _, parameter) in parameters.items()})
    weights = [_checked_weight(weight) for _, weight in loras]
    by_key: dict[str, list[Contribution]] = defaultdict(list)
    reports = []
    for index, (source, _) in enumerate(loras):
        name = source_name(source, index)
        contents = read_lora(source, name)
        matched, unmatched = 0, list(contents.unsupported)
        for layer in contents.layers:
            slot = slots.get(layer.name)
            if slot is None:
                unmatched.extend(layer.keys)
                continue
            parameter = parameters[slot.key][2]
            check_fits(layer, rows_shape(parameter.shape, slot.rows), slot.key, name)
            by_key[slot.key].append(contribution(layer, index, slot.rows, parameter.device))
            matched += 1
        reports.append(LoraReport(name, contents.format, weights[index], matched, sorted(unmatched)))
    attached = []
    with torch.no_grad():
        for key, contributions in by_key.items():
            module, attribute, parameter = parameters[key]
            if mode == SIDE:
                attach(module, attribute, LoraParametrization(contributions, weights))
                attached.append((module, attribute))
            elif (delta := summed_delta(contributions, weights, parameter)) is not None:
                parameter.copy_(add_delta(parameter, delta))
    return AppliedLoras(mode, reports, weights, attached)


def _parameters(model: nn.Module) -> dict[str, tuple[nn.Module, str, torch.Tensor]]:
    """`{state-dict key: (module, attribute, parameter)}`; the keys are the module paths, as state_dict makes them."""
    parameters = {}
    for path, module in model.named_modules():
        if isinstance(module, PackedConv2d | PackedLinear):
            raise SgmError("apply LoRAs before sgm.kernels.pack_weights(model) (or call unpack_weights(model) first)")
        for attribute, parameter in module._parameters.items():
            if parameter is not None:
                parameters[f"{path}.{attribute}" if path else attribute] = (module, attribute, parameter)
    return parameters


def _checked_weight(weight: float) -> float:
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight):
        raise SgmError(f"a LoRA weight must be a finite number, got {weight!r}")
    return float(weight)
