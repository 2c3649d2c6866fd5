"""FrozenCLIPEmbedder on a tiny CLIPTextConfig: layers, pooling, official key names, loading, fp64."""

import pytest
import torch
from sgm.conditioners.clip_text import FrozenCLIPEmbedder
from sgm.conditioners.tokenizer import EOT_TOKEN_ID

PROMPTS = ["a photo of a cat", "an astronaut riding a horse on the moon"]


@pytest.fixture
def embedder(tiny_clip_text):
    torch.manual_seed(0)
    return FrozenCLIPEmbedder(version=tiny_clip_text, layer="hidden", layer_idx=-1, always_return_pooled=True)


def test_layers_and_pooled_output_agree(embedder, tiny_clip_text):
    hidden, pooled = embedder(PROMPTS)
    last = FrozenCLIPEmbedder(version=tiny_clip_text, layer="last")
    last.load_state_dict(embedder.state_dict())
    z_last = last(PROMPTS)
    assert hidden.shape == z_last.shape == (2, 77, 32) and pooled.shape == (2, 32)
    final_norm = embedder.transformer.text_model.final_layer_norm
    torch.testing.assert_close(final_norm(hidden), z_last)  # the last hidden state is the output before the final LN
    eot = embedder.tokenizer(PROMPTS, 77, EOT_TOKEN_ID).argmax(dim=-1)  # first end token
    torch.testing.assert_close(pooled, z_last[torch.arange(2), eot])
    as_layer = FrozenCLIPEmbedder(version=tiny_clip_text, layer="pooled")
    as_layer.load_state_dict(embedder.state_dict())
    torch.testing.assert_close(as_layer(PROMPTS), pooled[:, None, :])


def test_hidden_layer_index_counts_the_embedding_output(embedder, tiny_clip_text):
    penultimate = FrozenCLIPEmbedder(version=tiny_clip_text, layer="hidden", layer_idx=2)
    penultimate.load_state_dict(embedder.state_dict())
    tokens = embedder.tokenizer(PROMPTS[:1], 77, EOT_TOKEN_ID)
    states = embedder.transformer(tokens, output_hidden_states=True).hidden_states
    assert len(states) == 4  # embeddings + 3 layers
    torch.testing.assert_close(penultimate(PROMPTS[:1]), states[2])


def test_state_dict_has_the_official_names(embedder):
    state = embedder.state_dict()
    assert all(key.startswith("transformer.text_model.") for key in state)
    assert {
        "transformer.text_model.embeddings.token_embedding.weight",
        "transformer.text_model.encoder.layers.2.self_attn.q_proj.weight",
        "transformer.text_model.final_layer_norm.bias",
    } <= set(state)
    position_ids = state["transformer.text_model.embeddings.position_ids"]
    assert position_ids.dtype == torch.int64 and position_ids.tolist() == [list(range(77))]


def test_loads_with_and_without_position_ids(embedder, tiny_clip_text):
    other = FrozenCLIPEmbedder(version=tiny_clip_text, layer="hidden", layer_idx=-1, always_return_pooled=True)
    state = embedder.state_dict()
    other.load_state_dict({k: v for k, v in state.items() if not k.endswith("position_ids")})
    torch.testing.assert_close(other(PROMPTS)[1], embedder(PROMPTS)[1])
    other.load_state_dict(state)
    with pytest.raises(RuntimeError, match="Unexpected"):
        other.load_state_dict({**state, "transformer.text_model.extra": torch.zeros(1)})


def test_frozen_and_fp64(embedder):
    assert not embedder.transformer.training and not any(p.requires_grad for p in embedder.parameters())
    z32, _ = embedder(PROMPTS)
    z64, pooled64 = embedder.double()(PROMPTS)
    assert z64.dtype == pooled64.dtype == torch.float64
    torch.testing.assert_close(z64.float(), z32, atol=1e-4, rtol=1e-4)


def test_bad_options_are_clear_errors(tiny_clip_text):
    with pytest.raises(ValueError, match="layer_idx"):
        FrozenCLIPEmbedder(version=tiny_clip_text, layer="hidden")
    with pytest.raises(ValueError, match="layer must be"):
        FrozenCLIPEmbedder(version=tiny_clip_text, layer="penultimate")
    with pytest.raises(ValueError, match="unknown CLIP text model"):
        FrozenCLIPEmbedder(version="openai/clip-vit-base-patch99")
