"""Long and weighted prompts: 75-token chunks encoded one by one and joined, as AUTOMATIC1111 and ComfyUI do.

A text encoder sees 77 positions. A longer prompt, or one using the emphasis syntax of `prompt_weights`, is cut
into chunks of 75 tokens, each wrapped as `[start] tokens [end] pad...` to 77 and encoded on its own; the token
embeddings are joined along the sequence axis (77 * chunks tokens), each multiplied by its weight. The pooled
output is the first chunk's. A prompt of at most 75 tokens without emphasis syntax takes the encoder's plain path
and gives exactly the embeddings it gave before this existed.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from sgm.conditioners.prompt_weights import parse_prompt_attention, split_at_breaks

if TYPE_CHECKING:  # the tokenizer pulls in open_clip; GeneralConditioner imports this module without it
    from sgm.conditioners.tokenizer import ClipTokenizer

# (token embeddings [n, length, width], pooled [n, dim] or None) of a batch of token rows [n, length]
EncodeTokens = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]


@dataclass(frozen=True)
class PromptChunks:
    """Token ids and per-token weights of a batch of prompts, `[batch, chunks, length]` each."""

    tokens: torch.Tensor
    weights: torch.Tensor


def _as_list(text: str | list[str]) -> list[str]:
    texts = [text] if isinstance(text, str) else list(text)
    for row, prompt in enumerate(texts):
        if not isinstance(prompt, str):
            raise TypeError(f"prompts must be strings, got {type(prompt).__name__} at position {row}")
    return texts


def _weighted_tokens(tokenizer: "ClipTokenizer", prompt: str) -> list[list[tuple[int, float]]]:
    """The prompt's `(token id, weight)` pairs, one list per BREAK-separated part."""
    return [
        [(token, weight) for text, weight in parse_prompt_attention(part) for token in tokenizer.encode(text)]
        for part in split_at_breaks(prompt)
    ]


def _is_plain(tokenizer: "ClipTokenizer", prompt: str, chunk_size: int) -> bool:
    """True for a prompt that fits one chunk and that the emphasis syntax leaves as it is (all weights 1)."""
    unchanged = parse_prompt_attention(prompt) == [(prompt, 1.0)] and split_at_breaks(prompt) == [prompt]
    return unchanged and len(tokenizer.encode(prompt)) <= chunk_size


def _chunks(pairs: list[list[tuple[int, float]]], chunk_size: int) -> list[list[tuple[int, float]]]:
    """Each BREAK part cut into runs of `chunk_size` tokens (an empty part adds none); an empty prompt is one
    empty chunk."""
    chunks = [part[start : start + chunk_size] for part in pairs for start in range(0, len(part), chunk_size)]
    return chunks or [[]]


def chunk_prompts(
    tokenizer: "ClipTokenizer", text: str | list[str], length: int, pad_token_id: int, min_chunks: int = 1
) -> PromptChunks:
    """Every prompt cut into chunks of `length - 2` tokens, each `[start] tokens [end] pad...`; shorter prompts
    get empty chunks (an empty prompt's tokens, weight 1) up to the batch's longest or `min_chunks`."""
    chunk_size = length - 2
    per_prompt = [_chunks(_weighted_tokens(tokenizer, prompt), chunk_size) for prompt in _as_list(text)]
    count = max([min_chunks, *(len(chunks) for chunks in per_prompt)])
    tokens = torch.full((len(per_prompt), count, length), pad_token_id, dtype=torch.long)
    tokens[:, :, 0] = tokenizer.sot_token_id
    tokens[:, :, 1] = tokenizer.eot_token_id  # the empty chunk; real chunks write over it
    weights = torch.ones(len(per_prompt), count, length, dtype=torch.float64)
    for row, chunks in enumerate(per_prompt):
        for col, chunk in enumerate(chunks):
            tokens[row, col, 1 : len(chunk) + 1] = torch.tensor([token for token, _ in chunk], dtype=torch.long)
            tokens[row, col, len(chunk) + 1] = tokenizer.eot_token_id
            weights[row, col, 1 : len(chunk) + 1] = torch.tensor([weight for _, weight in chunk], dtype=torch.float64)
    return PromptChunks(tokens, weights)


def emphasize(z: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """`z` `[batch, chunks, length, width]` with each token's embedding times its weight, each prompt's chunk then
    rescaled to its unweighted mean, as AUTOMATIC1111 does (it takes the mean over the whole batch; per prompt and
    chunk keeps a prompt's embedding independent of the prompts beside it). All-1 chunks stay bit for bit."""
    weighted = z * weights[..., None].to(z.dtype)
    stat_dtype = torch.promote_types(z.dtype, torch.float32)
    mean = z.to(stat_dtype).mean(dim=(-2, -1), keepdim=True)
    weighted_mean = weighted.to(stat_dtype).mean(dim=(-2, -1), keepdim=True)
    unit = (weights == 1).all(dim=-1)[..., None, None]
    return torch.where(unit, z, weighted * (mean / weighted_mean).to(z.dtype))


class ChunkedPromptEmbedder:
    """Mixin for the CLIP text embedders: prompts of any length with AUTOMATIC1111's emphasis syntax.

    The embedder says how it tokenizes (`tokenizer`, `prompt_length`, `pad_token_id`, as its plain path does) and
    gives `encode_prompts` a function from token rows to `(token embeddings, pooled or None)`.
    """

    tokenizer: "ClipTokenizer"
    prompt_length: int
    pad_token_id: int

    def chunk_count(self, text: str | list[str]) -> int:
        """How many chunks the longest prompt of `text` takes (1 up to 75 tokens)."""
        chunk_size = self.prompt_length - 2
        counts = (len(_chunks(_weighted_tokens(self.tokenizer, prompt), chunk_size)) for prompt in _as_list(text))
        return max(counts, default=1)

    def encode_prompts(
        self, text: str | list[str], encode_tokens: EncodeTokens, min_chunks: int = 1
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`(token embeddings [batch, 77 * chunks, width], pooled [batch, dim] or None)` of the prompts.

        `min_chunks` pads every prompt to at least that many chunks (the conditioner sets it so that encoders
        whose outputs it joins agree). Plain prompts of at most 75 tokens go through the encoder's plain path.
        """
        texts = _as_list(text)
        chunk_size = self.prompt_length - 2
        if min_chunks <= 1 and all(_is_plain(self.tokenizer, prompt, chunk_size) for prompt in texts):
            return encode_tokens(self.tokenizer(text, self.prompt_length, pad_token_id=self.pad_token_id))
        chunks = chunk_prompts(self.tokenizer, texts, self.prompt_length, self.pad_token_id, min_chunks)
        batch, count, _ = chunks.tokens.shape
        z, pooled = encode_tokens(chunks.tokens.flatten(0, 1))
        z = emphasize(z.unflatten(0, (batch, count)), chunks.weights.to(z.device)).flatten(1, 2)
        return z, None if pooled is None else pooled.unflatten(0, (batch, count))[:, 0]


def repeat_to_same_length(
    cond: dict[str, torch.Tensor], uncond: dict[str, torch.Tensor]
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """`cond` and `uncond` with `crossattn` repeated along the token axis to the least common multiple of their
    token counts, so a guider can batch them (it joins them on the batch axis).

    Repeating every context token r times leaves cross-attention's output unchanged (each copy gets 1/r of the
    original softmax weight), so this gives what encoding the two separately gives, as ComfyUI does; padding with
    empty chunks instead (AUTOMATIC1111's option) would change the shorter one's attention.
    """
    if "crossattn" not in cond or "crossattn" not in uncond:
        return cond, uncond
    tokens_c, tokens_u = cond["crossattn"].shape[1], uncond["crossattn"].shape[1]
    if tokens_c == tokens_u:
        return cond, uncond
    tokens = math.lcm(tokens_c, tokens_u)
    cond = {**cond, "crossattn": cond["crossattn"].repeat(1, tokens // tokens_c, 1)}
    uncond = {**uncond, "crossattn": uncond["crossattn"].repeat(1, tokens // tokens_u, 1)}
    return cond, uncond
