"""describe_lora: what `sgm inspect` says about a LoRA file: its format and which models it fits, from the file's
header and the models' layouts alone (no weights are read)."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sgm.core.lora.delta import fits, rows_shape
from sgm.core.lora.files import read_lora
from sgm.core.lora.targets import lora_slots


@dataclass
class LoraFit:
    model: str
    matched: int  # layers whose weight the model has, with a shape that fits
    mismatched: list[str]  # layers whose weight the model has, with another shape (the LoRA is for another model)
    missing: int  # layers the model has no weight for

    @property
    def fits(self) -> bool:
        return self.matched > 0 and not self.mismatched


@dataclass
class LoraDescription:
    path: str
    format: str
    layers: int
    keys: int
    unsupported: list[str]  # keys no model can use: unknown names, parts out of scope, layers lacking down or up
    candidates: list[LoraFit]  # every model given, those that fit first, then by layers matched

    @property
    def models(self) -> list[str]:
        """The models it fits, those it covers completely first."""
        return [fit.model for fit in self.candidates if fit.fits]

    def summary(self) -> list[str]:
        lines = [f"{self.path}: a LoRA ({self.format}), {self.layers} layers in {self.keys} keys"]
        for fit in self.candidates:
            if fit.fits:
                lines.append(f"fits {fit.model}: {fit.matched} of {self.layers} layers match")
        if not self.models:
            named = any(fit.matched or fit.mismatched for fit in self.candidates)
            reason = "its layers have other shapes (made for another model)" if named else "no layer names match"
            lines.append(f"fits none of the models: {reason}")
        if self.unsupported:
            shown = ", ".join(self.unsupported[:3]) + (", ..." if len(self.unsupported) > 3 else "")
            lines.append(f"{len(self.unsupported)} keys no model can use ({shown})")
        return lines


def describe_lora(path: str | Path, layouts: Mapping[str, Mapping[str, list]]) -> LoraDescription:
    """The file's format and, for each candidate model (`{name: {key: [shape, dtype]}}`, as the catalog gives
    layouts), how many of its layers match; a file that is not a LoRA is an SgmError."""
    contents = read_lora(path, str(path), shapes_only=True)
    candidates = []
    for model, layout in layouts.items():
        shapes = {key: list(entry[0]) for key, entry in layout.items()}
        slots = lora_slots(shapes)
        matched, mismatched, missing = 0, [], 0
        for layer in contents.layers:
            slot = slots.get(layer.name)
            if slot is None:
                missing += 1
            elif fits(layer, rows_shape(shapes[slot.key], slot.rows)):
                matched += 1
            else:
                mismatched.append(layer.name)
        candidates.append(LoraFit(model, matched, mismatched, missing))
    candidates.sort(key=lambda fit: (not fit.fits, -fit.matched, fit.missing))
    keys = sum(len(layer.keys) for layer in contents.layers) + len(contents.unsupported)
    return LoraDescription(str(path), contents.format, len(contents.layers), keys, contents.unsupported, candidates)
