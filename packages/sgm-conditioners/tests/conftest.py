"""Tiny configs that run the same code paths as the full-size encoders."""

import pytest

# An open_clip CLIP config small enough to build and run in well under a second (the 49,408-token vocabulary stays).
TINY_OPEN_CLIP = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 3},
}

# transformers CLIPTextConfig fields for a 3-layer CLIP text model (the rest as in ViT-L/14).
TINY_CLIP_TEXT = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 3, "num_attention_heads": 4}


@pytest.fixture
def tiny_open_clip():
    return {key: dict(value) if isinstance(value, dict) else value for key, value in TINY_OPEN_CLIP.items()}


@pytest.fixture
def tiny_clip_text():
    return dict(TINY_CLIP_TEXT)
