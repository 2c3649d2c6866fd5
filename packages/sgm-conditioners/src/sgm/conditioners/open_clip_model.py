"""Building open_clip CLIP models (Ilharco et al. 2021; Cherti et al. 2023) without downloading weights."""

from collections.abc import Mapping

import open_clip
import torch
from open_clip.model import CLIP
from sgm.conditioners.norms import use_kernel_layer_norms
from torch import nn
from torch.utils.checkpoint import checkpoint


def open_clip_config(arch: str | Mapping) -> dict:
    """The model config of an open_clip architecture name (`"ViT-H-14"`), or `arch` itself when it is a mapping
    with `embed_dim`, `vision_cfg` and `text_cfg` (tiny test models)."""
    if isinstance(arch, Mapping):
        config = dict(arch)
    else:
        config = open_clip.get_model_config(arch)
        if config is None:
            raise ValueError(f"unknown open_clip architecture {arch!r}: use a name from open_clip.list_models()")
    missing = {"embed_dim", "vision_cfg", "text_cfg"} - set(config)
    if missing:
        raise ValueError(f"open_clip config for {arch!r} lacks {sorted(missing)}")
    if config.pop("custom_text", False) or "hf_model_name" in config["text_cfg"]:
        raise ValueError(
            f"open_clip architecture {arch!r} has a custom/HF text tower; only CLIP text towers are supported"
        )
    return config


def build_open_clip(arch: str | Mapping) -> CLIP:
    """A randomly initialised open_clip `CLIP` on the default device (use `torch.device("meta")` for layouts), its
    LayerNorms computed by sgm.kernels.

    The weights come from the sgm checkpoint, never from open_clip's pretrained downloads.
    """
    return use_kernel_layer_norms(CLIP(**open_clip_config(arch)))


def run_resblocks(transformer: nn.Module, blocks, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
    """Runs `blocks` of an open_clip `Transformer` on `x` in `[batch, tokens, width]` layout, whatever the layout
    the installed open_clip's blocks expect (`batch_first` since open_clip 2.2x, sequence-first before)."""
    batch_first = getattr(transformer, "batch_first", False)
    if not batch_first:
        x = x.transpose(0, 1)
    for block in blocks:
        if transformer.grad_checkpointing and torch.is_grad_enabled():
            x = checkpoint(block, x, attn_mask=attn_mask, use_reentrant=False)
        else:
            x = block(x, attn_mask=attn_mask)
    return x if batch_first else x.transpose(0, 1)
