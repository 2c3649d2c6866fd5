"""Loading a first stage's weights from the `ckpt_path` of its config."""

import logging
from pathlib import Path

import torch
from torch import nn

logger = logging.getLogger(__name__)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a `.safetensors` file or a torch checkpoint (its `state_dict` entry when it has one)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist: check ckpt_path in the config")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state)


def load_checkpoint_into(module: nn.Module, path: str | Path) -> None:
    """Load the checkpoint's matching keys into `module` (non-strict, as the reference does) and log the rest."""
    missing, unexpected = module.load_state_dict(read_state_dict(path), strict=False)
    logger.info("loaded %s: %d missing keys, %d unexpected keys", path, len(missing), len(unexpected))
    if missing:
        logger.warning("keys missing from %s: %s", path, missing[:10])
    if unexpected:
        logger.warning("unexpected keys in %s: %s", path, unexpected[:10])
