"""The conditioner's input batch for one sampling call, and its conditional / unconditional outputs.

A conditioner is duck-typed as the reference's GeneralConditioner: `embedders` (each with `input_key`, `ucg_rate`,
`legacy_ucg_val`) and `get_unconditional_conditioning(batch, batch_uc, force_uc_zero_embeddings)`. The batch keys
and their values follow the reference's `get_batch` (scripts/demo/streamlit_helpers.py): SDXL's micro-conditioning
sizes are `(height, width)` rows, the refiner's aesthetic scores `[N, 1]` rows.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from sgm.core.errors import SgmError


@dataclass(frozen=True)
class Prompt:
    """What the conditioner reads. Sizes are `(height, width)`; None means the sampled image's size.
    aesthetic_score / negative_aesthetic_score: the SDXL refiner's (cond / uncond), the reference's 6.0 / 2.5."""

    text: str = ""
    negative_text: str = ""
    original_size: tuple[int, int] | None = None
    crop_coords_top_left: tuple[int, int] = (0, 0)
    target_size: tuple[int, int] | None = None
    aesthetic_score: float = 6.0
    negative_aesthetic_score: float = 2.5
    class_labels: Sequence[int] | None = None


def embedder_keys(conditioner: Any) -> list[str]:
    """The batch keys the conditioner's embedders read, each once."""
    return list(dict.fromkeys(embedder.input_key for embedder in conditioner.embedders))


def _rows(values: Sequence[float], n: int, device: Any) -> torch.Tensor:
    return torch.tensor(list(values)).to(device).repeat(n, 1)


def conditioning_batch(
    keys: Sequence[str], prompt: Prompt, n: int, size: tuple[int, int], device: Any = "cpu"
) -> tuple[dict, dict]:
    """`(batch, batch_uc)` for `n` samples of `size = (height, width)`; tensors not set for uc are copied."""
    batch, batch_uc = {}, {}
    for key in keys:
        if key == "txt":
            batch[key], batch_uc[key] = [prompt.text] * n, [prompt.negative_text] * n
        elif key == "original_size_as_tuple":
            batch[key] = _rows(prompt.original_size or size, n, device)
        elif key == "crop_coords_top_left":
            batch[key] = _rows(prompt.crop_coords_top_left, n, device)
        elif key == "target_size_as_tuple":
            batch[key] = _rows(prompt.target_size or size, n, device)
        elif key == "aesthetic_score":
            batch[key] = _rows([prompt.aesthetic_score], n, device)
            batch_uc[key] = _rows([prompt.negative_aesthetic_score], n, device)
        elif key == "cls":
            if prompt.class_labels is None or len(prompt.class_labels) != n:
                raise SgmError(f"this class-conditional model needs {n} class labels, got {prompt.class_labels!r}")
            batch[key] = torch.tensor([int(label) for label in prompt.class_labels], device=device)
        else:
            raise SgmError(f"the model's conditioner reads {key!r}, which the image pipelines do not provide")
    for key, value in batch.items():
        if key not in batch_uc and isinstance(value, torch.Tensor):
            batch_uc[key] = value.clone()
    return batch, batch_uc


def class_unconditional(conditioner: Any, batch_uc: dict) -> list[str]:
    """Make `batch_uc` ask for "no class" the way each class embedder was trained to drop it: its
    `legacy_ucg_val` class where it has one, else a zero embedding (returned as keys to force to zero)."""
    zeroed = []
    for embedder in conditioner.embedders:
        if embedder.input_key != "cls":
            continue
        legacy = getattr(embedder, "legacy_ucg_val", None)
        if legacy is not None:
            batch_uc["cls"] = torch.full_like(batch_uc["cls"], int(legacy))
        else:
            zeroed.append("cls")
    return zeroed


@torch.no_grad()
def conditionings(
    conditioner: Any, batch: dict, batch_uc: dict, force_uc_zero: Sequence[str], n: int, device: Any
) -> tuple[dict, dict]:
    """`(cond, uncond)` from the conditioner, each tensor cut to `n` samples and moved to `device`."""
    cond, uncond = conditioner.get_unconditional_conditioning(
        batch, batch_uc=batch_uc, force_uc_zero_embeddings=list(force_uc_zero)
    )
    cut = {key: value[:n].to(device) for key, value in cond.items()}
    uncut = {key: value[:n].to(device) for key, value in uncond.items()}
    return cut, uncut
