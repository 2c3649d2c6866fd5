"""CLIP's byte-level BPE tokenizer (Radford et al. 2021, section 2.4), offline from open_clip's bundled vocabulary."""

import functools
import re

import ftfy
import torch
from open_clip.tokenizer import SimpleTokenizer

VOCAB_SIZE = 49408  # 256 bytes x 2 (word-final or not) + 48,894 merges + 2 special tokens
SOT_TOKEN_ID = 49406
EOT_TOKEN_ID = 49407


def _clean_like_transformers(text: str) -> str:
    """transformers' `CLIPTokenizer` text cleaning (with ftfy): fix mojibake, collapse whitespace, lower-case."""
    return re.sub(r"\s+", " ", ftfy.fix_text(text)).strip().lower()


@functools.cache
def _bpe(clean: str) -> SimpleTokenizer:
    tokenizer = SimpleTokenizer()
    if clean == "transformers":
        tokenizer.clean_fn = _clean_like_transformers
    return tokenizer


class ClipTokenizer:
    """Tokenizes text to `[batch, max_length]` ids: start token, BPE ids, end token, then `pad_token_id`.

    `clean="open_clip"` cleans text as `open_clip.tokenize` does (ftfy, HTML unescaping, whitespace, lower case);
    `clean="transformers"` as transformers' `CLIPTokenizer` does (no HTML unescaping). The vocabulary is the same.
    """

    sot_token_id = SOT_TOKEN_ID
    eot_token_id = EOT_TOKEN_ID

    def __init__(self, clean: str = "open_clip"):
        if clean not in ("open_clip", "transformers"):
            raise ValueError(f"clean must be 'open_clip' or 'transformers', got {clean!r}")
        self.bpe = _bpe(clean)
        if len(self.bpe.encoder) != VOCAB_SIZE:
            raise RuntimeError(f"open_clip's BPE vocabulary has {len(self.bpe.encoder)} tokens, expected {VOCAB_SIZE}")

    def __len__(self) -> int:
        return len(self.bpe.encoder)

    def encode(self, text: str) -> list[int]:
        """BPE ids of `text`, without start and end tokens."""
        return self.bpe.encode(text)

    def decode(self, ids) -> str:
        """The text of `ids` up to the first end token (what follows it is padding); start tokens are dropped."""
        ids = [int(i) for i in ids]
        if EOT_TOKEN_ID in ids:
            ids = ids[: ids.index(EOT_TOKEN_ID)]
        return self.bpe.decode([i for i in ids if i != SOT_TOKEN_ID]).strip()

    def __call__(self, texts: str | list[str], max_length: int = 77, pad_token_id: int = 0) -> torch.Tensor:
        if isinstance(texts, str):
            texts = [texts]
        if max_length < 2:
            raise ValueError(f"max_length must be at least 2 (start and end tokens), got {max_length}")
        ids = torch.full((len(texts), max_length), pad_token_id, dtype=torch.long)
        for row, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"prompts must be strings, got {type(text).__name__} at position {row}")
            tokens = [SOT_TOKEN_ID, *self.encode(text)[: max_length - 2], EOT_TOKEN_ID]
            ids[row, : len(tokens)] = torch.tensor(tokens)
        return ids
