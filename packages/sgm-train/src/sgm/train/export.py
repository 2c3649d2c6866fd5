"""Lightning training checkpoints -> inference weights in the official key layout (safetensors).

The EMA's `model_ema.<name without dots>` buffers replace the `model.<name>` weights they average, and every
`model_ema.*` entry is dropped, so the file has exactly the engine's keys (`model.diffusion_model.*`,
`conditioner.*`, `denoiser.*`, `first_stage_model.*`).
"""

from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import save_file

from sgm.train.ema import shadow_name

EMA_PREFIX = "model_ema."
EMA_OWN_BUFFERS = ("decay", "num_updates")


def inference_state_dict(
    state_dict: Mapping[str, torch.Tensor], use_ema: bool = True, ema_of: str = "model."
) -> dict[str, torch.Tensor]:
    """The engine's weights from a training `state_dict`, EMA averages swapped in for the `ema_of` submodule."""
    has_ema = any(key.startswith(EMA_PREFIX) for key in state_dict)
    if use_ema and not has_ema:
        raise ValueError(
            "the checkpoint has no EMA weights (model_ema.*): train with use_ema, or export with use_ema=False"
        )
    weights = {}
    for key, value in state_dict.items():
        if key.startswith(EMA_PREFIX):
            continue
        if use_ema and key.startswith(ema_of):
            value = state_dict.get(EMA_PREFIX + shadow_name(key[len(ema_of) :]), value)
        weights[key] = value.detach().contiguous()
    return weights


def export_checkpoint(
    checkpoint: str | Path, output: str | Path, use_ema: bool = True, dtype: torch.dtype | None = None
) -> Path:
    """Write `checkpoint`'s (EMA) weights to the safetensors file `output`, optionally cast to `dtype`."""
    checkpoint, output = Path(checkpoint), Path(output)
    if output.suffix != ".safetensors":
        raise ValueError(f"export writes safetensors: give an output path ending in .safetensors, not {output}")
    # A training checkpoint also pickles optimizer and loop state; only tensors and plain containers are read.
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    weights = inference_state_dict(state["state_dict"], use_ema=use_ema)
    if dtype is not None:
        weights = {k: v.to(dtype) if v.is_floating_point() else v for k, v in weights.items()}
    output.parent.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(output), metadata={"format": "pt", "source": checkpoint.name})
    return output
