"""OpenCLIP text encoders: ViT-H/14 (SD 2.x) and ViT-bigG/14 (SDXL's second encoder, pooled + penultimate)."""

from collections.abc import Mapping

import torch
from sgm.conditioners.autocast import reference_autocast
from sgm.conditioners.general import AbstractEmbModel
from sgm.conditioners.open_clip_model import build_open_clip, run_resblocks
from sgm.conditioners.prompt_chunks import ChunkedPromptEmbedder
from sgm.conditioners.tokenizer import ClipTokenizer


class _OpenCLIPTextEmbedder(ChunkedPromptEmbedder, AbstractEmbModel):
    """An open_clip CLIP without its vision tower (`model.*` keys), run block by block to reach inner layers.

    `arch` is an open_clip architecture name or a config dict (`embed_dim`, `vision_cfg`, `text_cfg`). `version`
    (the open_clip pretrained tag) is kept for config compatibility and unused: weights come from the sgm
    checkpoint. `device` is likewise unused: tokens go to the device the weights are on. Prompts are cut to the
    model's context length (77), as `open_clip.tokenize` does, whatever `max_length` says; longer and weighted
    prompts are encoded in chunks of that length (see `prompt_chunks`).
    """

    pad_token_id = 0  # as open_clip.tokenize pads

    LAYERS: tuple[str, ...] = ("last", "penultimate")

    def __init__(self, arch: str | Mapping, version: str, device: str, max_length: int, freeze: bool, layer: str):
        super().__init__()
        if layer not in self.LAYERS:
            raise ValueError(f"layer must be one of {self.LAYERS}, got {layer!r}")
        if layer not in ("last", "penultimate"):
            raise NotImplementedError(f"layer {layer!r} is not implemented (use 'last' or 'penultimate')")
        model = build_open_clip(arch)
        del model.visual
        self.model = model
        self.tokenizer = ClipTokenizer(clean="open_clip")
        self.version = version
        self.device = device
        self.max_length = max_length
        self.layer = layer
        self.layer_idx = 0 if layer == "last" else 1  # how many final blocks to leave out
        if freeze:
            self.freeze()

    def freeze(self):
        self.model = self.model.eval()
        for param in self.parameters():
            param.requires_grad = False

    @property
    def prompt_length(self) -> int:
        return self.model.context_length

    def tokenize(self, text: str | list[str]) -> torch.Tensor:
        tokens = self.tokenizer(text, self.prompt_length, pad_token_id=self.pad_token_id)
        return tokens.to(self.model.token_embedding.weight.device)

    def embed_tokens(self, text: torch.Tensor) -> torch.Tensor:
        """Token plus positional embeddings, `[batch, tokens, width]`."""
        return self.model.token_embedding(text) + self.model.positional_embedding

    def encode(self, text: str | list[str]):
        return self(text)


class FrozenOpenCLIPEmbedder(_OpenCLIPTextEmbedder):
    """`layer="last"`: the final text features; `"penultimate"`: those of the second-to-last block (SD 2.x),
    each through the final LayerNorm, `[batch, 77, width]`."""

    def __init__(
        self,
        arch: str | Mapping = "ViT-H-14",
        version: str = "laion2b_s32b_b79k",
        device: str = "cuda",
        max_length: int = 77,
        freeze: bool = True,
        layer: str = "last",
    ):
        super().__init__(arch, version, device, max_length, freeze, layer)

    def forward(self, text: str | list[str], *, min_chunks: int = 1) -> torch.Tensor:
        z, _ = self.encode_prompts(text, self._encode_tokens, min_chunks)
        return z

    def _encode_tokens(self, tokens: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.encode_with_transformer(tokens.to(self.model.token_embedding.weight.device)), None

    def encode_with_transformer(self, text: torch.Tensor) -> torch.Tensor:
        x = self.text_transformer_forward(self.embed_tokens(text), attn_mask=self.model.attn_mask)
        return self.model.ln_final(x)

    def text_transformer_forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        blocks = self.model.transformer.resblocks
        return run_resblocks(self.model.transformer, blocks[: len(blocks) - self.layer_idx], x, attn_mask)


class FrozenOpenCLIPEmbedder2(_OpenCLIPTextEmbedder):
    """SDXL's OpenCLIP text encoder.

    `legacy=True`: like `FrozenOpenCLIPEmbedder` (the chosen layer through the final LayerNorm). `legacy=False`:
    the chosen layer as the transformer left it (the penultimate is NOT normalised) and, with
    `always_return_pooled`, also the pooled embedding: the final-normalised end-token state times
    `text_projection`, `[batch, embed_dim]`.
    """

    LAYERS = ("pooled", "last", "penultimate")

    def __init__(
        self,
        arch: str | Mapping = "ViT-H-14",
        version: str = "laion2b_s32b_b79k",
        device: str = "cuda",
        max_length: int = 77,
        freeze: bool = True,
        layer: str = "last",
        always_return_pooled: bool = False,
        legacy: bool = True,
    ):
        if always_return_pooled and legacy:
            raise ValueError("always_return_pooled needs legacy=False (the legacy path has no pooled output)")
        super().__init__(arch, version, device, max_length, freeze, layer)
        self.return_pooled = always_return_pooled
        self.legacy = legacy

    def forward(self, text: str | list[str], *, min_chunks: int = 1):
        z, pooled = self.encode_prompts(text, self._encode_tokens, min_chunks)
        if self.return_pooled:
            return z, pooled
        return z

    def _encode_tokens(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(the chosen layer's token states, the pooled embedding or None on the legacy path) of token rows."""
        tokens = tokens.to(self.model.token_embedding.weight.device)
        with reference_autocast(tokens.device):
            z = self.encode_with_transformer(tokens)
        if self.legacy:
            return z, None
        return z[self.layer], z["pooled"]

    def encode_with_transformer(self, text: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        x = self.text_transformer_forward(self.embed_tokens(text), attn_mask=self.model.attn_mask)
        if self.legacy:
            return self.model.ln_final(x[self.layer])
        x["pooled"] = self.pool(self.model.ln_final(x["last"]), text)
        return x

    def pool(self, x: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """The state at the end token (the largest id of each row) projected by `text_projection`."""
        return x[torch.arange(x.shape[0], device=x.device), text.argmax(dim=-1)] @ self.model.text_projection

    def text_transformer_forward(
        self, x: torch.Tensor, attn_mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """`{"penultimate": input of the last block, "last": its output}`, both `[batch, tokens, width]`."""
        transformer = self.model.transformer
        *first, final = transformer.resblocks
        penultimate = run_resblocks(transformer, first, x, attn_mask)
        return {"penultimate": penultimate, "last": run_resblocks(transformer, [final], penultimate, attn_mask)}
