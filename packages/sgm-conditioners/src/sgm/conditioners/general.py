"""GeneralConditioner: runs every embedder on its batch entries and joins the outputs by dimension."""

import logging
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from typing import Any, ClassVar

import numpy as np
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf
from sgm.conditioners.prompt_chunks import ChunkedPromptEmbedder, repeat_to_same_length
from sgm.core.config import instantiate
from torch import nn

logger = logging.getLogger(__name__)


class AbstractEmbModel(nn.Module):
    """An embedder: maps batch entries (`input_key` or `input_keys`) to conditioning tensors.

    `is_trainable`, `ucg_rate`, `input_key` and `legacy_ucg_val` are set by `GeneralConditioner` from the config;
    an embedder it marks as not trainable stays in eval mode whatever `train()` asks.
    """

    def __init__(self):
        super().__init__()
        self.is_trainable: bool | None = None
        self.ucg_rate: float | torch.Tensor = 0.0
        self.input_key: str | None = None
        self.legacy_ucg_val: Any = None

    def train(self, mode: bool = True):
        if self.is_trainable is False:
            mode = False
        return super().train(mode)


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, (DictConfig, ListConfig)) else node


class GeneralConditioner(nn.Module):
    """Builds the embedders of `emb_models` and returns `{"vector", "crossattn", "concat", ...}` conditioning.

    Each entry of `emb_models` is a `{target, params}` block plus `input_key` (or `input_keys`), and optionally
    `is_trainable` (default False: frozen, eval, no grad), `ucg_rate` (probability of dropping the conditioning of
    a sample, for classifier-free guidance) and `legacy_ucg_value` (drop by replacing the batch value instead of
    zeroing the embedding).
    """

    OUTPUT_DIM2KEYS: ClassVar[dict[int, str]] = {2: "vector", 3: "crossattn", 4: "concat", 5: "concat"}
    KEY2CATDIM: ClassVar[dict[str, int]] = {"vector": 1, "crossattn": 2, "concat": 1, "cond_view": 1, "cond_motion": 1}

    def __init__(self, emb_models: Sequence[Mapping] | ListConfig):
        super().__init__()
        embedders = []
        for n, config in enumerate(_plain(emb_models)):
            embedder = instantiate(config, key_path=f"emb_models[{n}]")
            if not isinstance(embedder, AbstractEmbModel):
                raise TypeError(
                    f"emb_models[{n}]: {type(embedder).__name__} is not an embedder; "
                    "embedders must subclass sgm.conditioners.general.AbstractEmbModel"
                )
            embedder.is_trainable = config.get("is_trainable", False)
            embedder.ucg_rate = config.get("ucg_rate", 0.0)
            if not embedder.is_trainable:
                embedder.requires_grad_(False)
                embedder.eval()
            if "input_key" in config:
                embedder.input_key = config["input_key"]
            elif "input_keys" in config:
                embedder.input_keys = list(config["input_keys"])
            else:
                raise KeyError(f"emb_models[{n}]: set 'input_key' or 'input_keys' for {type(embedder).__name__}")
            embedder.legacy_ucg_val = config.get("legacy_ucg_value", None)
            if embedder.legacy_ucg_val is not None:
                embedder.ucg_prng = np.random.RandomState()
            logger.info(
                "embedder #%d: %s, %d parameters, trainable: %s",
                n,
                type(embedder).__name__,
                sum(p.numel() for p in embedder.parameters()),
                embedder.is_trainable,
            )
            embedders.append(embedder)
        self.embedders = nn.ModuleList(embedders)

    def possibly_get_ucg_val(self, embedder: AbstractEmbModel, batch: dict) -> dict:
        """Replaces each sample's `input_key` value by `legacy_ucg_val` with probability `ucg_rate` (in place)."""
        p = embedder.ucg_rate
        values = batch[embedder.input_key]
        for i in range(len(values)):
            if embedder.ucg_prng.choice(2, p=[1 - p, p]):
                values[i] = embedder.legacy_ucg_val
        return batch

    def prompt_chunks(self, batch: dict) -> dict[str, int]:
        """For each prompt key, the most 75-token chunks any text embedder cuts its prompts into.

        Every text embedder pads its prompts to that count, so encoders joined on the channel axis (SDXL's CLIP-L
        and bigG, whose text cleanings differ on HTML entities) give the same number of tokens.
        """
        chunks: dict[str, int] = {}
        for embedder in self.embedders:
            key = embedder.input_key
            if isinstance(embedder, ChunkedPromptEmbedder) and key in batch:
                chunks[key] = max(chunks.get(key, 1), embedder.chunk_count(batch[key]))
        return chunks

    def _embed(self, embedder: AbstractEmbModel, batch: dict, prompt_chunks: dict[str, int]) -> list[torch.Tensor]:
        with nullcontext() if embedder.is_trainable else torch.no_grad():
            if embedder.input_key is not None:
                if embedder.legacy_ucg_val is not None:
                    batch = self.possibly_get_ucg_val(embedder, batch)
                if isinstance(embedder, ChunkedPromptEmbedder):
                    out = embedder(batch[embedder.input_key], min_chunks=prompt_chunks[embedder.input_key])
                else:
                    out = embedder(batch[embedder.input_key])
            else:
                out = embedder(*[batch[key] for key in embedder.input_keys])
        if isinstance(out, torch.Tensor):
            return [out]
        if isinstance(out, (list, tuple)):
            return list(out)
        raise TypeError(f"{type(embedder).__name__} returned {type(out).__name__}; embedders return tensors")

    def forward(self, batch: dict, force_zero_embeddings: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        force_zero_embeddings = force_zero_embeddings or []
        output: dict[str, torch.Tensor] = {}
        prompt_chunks = self.prompt_chunks(batch)
        for embedder in self.embedders:
            for emb in self._embed(embedder, batch, prompt_chunks):
                if embedder.input_key in ("cond_view", "cond_motion"):
                    out_key = embedder.input_key
                elif emb.dim() in self.OUTPUT_DIM2KEYS:
                    out_key = self.OUTPUT_DIM2KEYS[emb.dim()]
                else:
                    raise ValueError(f"{type(embedder).__name__} returned a {emb.dim()}-d tensor; expected 2 to 5 dims")
                if embedder.ucg_rate > 0.0 and embedder.legacy_ucg_val is None:
                    keep = torch.bernoulli((1.0 - embedder.ucg_rate) * torch.ones(emb.shape[0], device=emb.device))
                    emb = keep.to(emb.dtype).reshape(-1, *([1] * (emb.dim() - 1))) * emb
                if embedder.input_key is not None and embedder.input_key in force_zero_embeddings:
                    emb = torch.zeros_like(emb)
                if out_key in output:
                    output[out_key] = torch.cat((output[out_key], emb), self.KEY2CATDIM[out_key])
                else:
                    output[out_key] = emb
        return output

    def get_unconditional_conditioning(
        self,
        batch_c: dict,
        batch_uc: dict | None = None,
        force_uc_zero_embeddings: Sequence[str] | None = None,
        force_cond_zero_embeddings: Sequence[str] | None = None,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """`(c, uc)`: the conditioning of `batch_c` and of `batch_uc` (default `batch_c`), with dropout off;
        `crossattn` of prompts with different chunk counts is made the same length (`repeat_to_same_length`)."""
        rates = [embedder.ucg_rate for embedder in self.embedders]
        for embedder in self.embedders:
            embedder.ucg_rate = 0.0
        try:
            c = self(batch_c, force_cond_zero_embeddings)
            uc = self(batch_c if batch_uc is None else batch_uc, force_uc_zero_embeddings or [])
        finally:
            for embedder, rate in zip(self.embedders, rates):
                embedder.ucg_rate = rate
        return repeat_to_same_length(c, uc)
