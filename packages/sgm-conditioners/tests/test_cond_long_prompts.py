"""Long and weighted prompts on the three text embedders (tiny configs): chunks, weights, the unchanged plain path,
batch padding, SDXL's two encoders agreeing, and cond / uncond of different lengths."""

import pytest
import torch
import torch.nn.functional as F
from sgm.conditioners.clip_text import FrozenCLIPEmbedder
from sgm.conditioners.open_clip_text import FrozenOpenCLIPEmbedder, FrozenOpenCLIPEmbedder2
from sgm.conditioners.prompt_chunks import chunk_prompts, repeat_to_same_length
from sgm.conditioners.tokenizer import EOT_TOKEN_ID, SOT_TOKEN_ID
from sgm.core.config import instantiate

LONG = " ".join(["cat"] * 120 + ["dog"] * 80)  # 200 tokens: chunks of 75, 75 and 50
SHORT = ["a photo of a cat", "an astronaut riding a horse) on the moon"]  # a lone ")" is literal: plain


def _clip(tiny_clip_text):
    torch.manual_seed(0)
    return FrozenCLIPEmbedder(version=tiny_clip_text, layer="hidden", layer_idx=-2, always_return_pooled=True)


def _sd21(tiny_open_clip):
    torch.manual_seed(0)
    return FrozenOpenCLIPEmbedder(arch=tiny_open_clip, layer="penultimate")


def _bigg(tiny_open_clip):
    torch.manual_seed(0)
    return FrozenOpenCLIPEmbedder2(arch=tiny_open_clip, layer="penultimate", always_return_pooled=True, legacy=False)


@pytest.fixture(params=["clip", "sd21", "bigg"])
def embedder(request, tiny_clip_text, tiny_open_clip):
    if request.param == "clip":
        return _clip(tiny_clip_text)
    return _sd21(tiny_open_clip) if request.param == "sd21" else _bigg(tiny_open_clip)


def _first(out):
    """The token embeddings of an embedder's output (the pooled output, if any, comes second)."""
    return out[0] if isinstance(out, tuple) else out


def _tokens(embedder):
    return lambda *args, **kwargs: _first(embedder(*args, **kwargs))


def _plain_path(embedder, prompts):
    """The embedder's forward as it was before long prompts: one 77-token row per prompt."""
    if isinstance(embedder, FrozenCLIPEmbedder):
        tokens = embedder.tokenizer(prompts, 77, pad_token_id=EOT_TOKEN_ID)
        outputs = embedder.transformer(tokens, output_hidden_states=True)
        return outputs.hidden_states[-2], outputs.pooler_output
    z = embedder.encode_with_transformer(embedder.tokenize(prompts))
    return (z["penultimate"], z["pooled"]) if isinstance(z, dict) else z


def test_plain_prompts_take_the_plain_path_bit_for_bit(embedder):
    expected, got = _plain_path(embedder, SHORT), embedder(SHORT)
    for expected_part, got_part in zip(expected if isinstance(expected, tuple) else [expected],
                                       got if isinstance(got, tuple) else [got]):  # fmt: skip
        assert torch.equal(expected_part, got_part)


def test_a_200_token_prompt_is_three_chunks(embedder):
    assert len(embedder.tokenizer.encode(LONG)) == 200
    z = _tokens(embedder)(LONG)
    assert z.shape[:2] == (1, 231) and embedder.chunk_count(LONG) == 3
    assert embedder.chunk_count(" ".join(["cat"] * 75)) == 1 and embedder.chunk_count(" ".join(["cat"] * 76)) == 2
    chunks = chunk_prompts(embedder.tokenizer, LONG, 77, embedder.pad_token_id)
    ids = chunks.tokens[0]
    cat, dog = embedder.tokenizer.encode("cat dog")
    assert ids[:, 0].eq(SOT_TOKEN_ID).all() and ids[:2, 76].eq(EOT_TOKEN_ID).all()
    assert ids[0, 1:76].eq(cat).all() and ids[1, 1:46].eq(cat).all() and ids[1, 46:76].eq(dog).all()
    assert ids[2, 1:51].eq(dog).all() and ids[2, 51] == EOT_TOKEN_ID and ids[2, 52:].eq(embedder.pad_token_id).all()
    assert chunks.weights.eq(1).all()


def test_unit_weights_give_the_plain_chunks_joined(embedder):
    z = _tokens(embedder)(LONG)
    ids = chunk_prompts(embedder.tokenizer, LONG, 77, embedder.pad_token_id).tokens[0]
    per_chunk = [_first(embedder._encode_tokens(ids[i : i + 1])) for i in range(3)]
    torch.testing.assert_close(z, torch.cat(per_chunk, dim=1))
    assert torch.equal(_tokens(embedder)(f"({LONG}:1.0)"), z)  # weight 1 written out: the same tensor


def test_a_weight_scales_one_token_then_the_mean_is_restored(embedder):
    plain = _tokens(embedder)("a photo of a cat on a mat")
    weighted = _tokens(embedder)("a photo of a (cat:1.5) on a mat")
    weights = torch.ones(77)
    weights[1 + len(embedder.tokenizer.encode("a photo of a"))] = 1.5  # "cat", after the start token
    unscaled = plain * weights[:, None]
    torch.testing.assert_close(weighted, unscaled * plain.mean() / unscaled.mean())
    ratio = weighted / plain
    torch.testing.assert_close(ratio[0, weights == 1], torch.full_like(ratio[0, weights == 1], ratio[0, 0, 0].item()))


def test_pooled_output_is_the_first_chunks(tiny_clip_text, tiny_open_clip):
    clip, bigg = _clip(tiny_clip_text), _bigg(tiny_open_clip)
    for model in (clip, bigg):
        _, pooled = model(f"(a photo:1.4) of {LONG}")
        first = chunk_prompts(model.tokenizer, f"(a photo:1.4) of {LONG}", 77, model.pad_token_id).tokens[:, 0]
        torch.testing.assert_close(pooled, model._encode_tokens(first)[1])  # unweighted, as AUTOMATIC1111's
    torch.testing.assert_close(bigg(LONG)[1], bigg.model.encode_text(bigg.tokenize(LONG)))  # cut at 77: chunk one


def test_a_batch_pads_short_prompts_with_empty_chunks(embedder):
    embed = _tokens(embedder)
    z = embed(["a cat", LONG])
    assert z.shape[:2] == (2, 231)
    torch.testing.assert_close(z[0, :77], embed("a cat")[0])
    torch.testing.assert_close(z[0, 77:154], embed("")[0])
    torch.testing.assert_close(z[0, 154:], embed("")[0])
    torch.testing.assert_close(z[1], embed(LONG)[0])
    torch.testing.assert_close(embed("a cat", min_chunks=2)[0], z[0, :154])


def test_break_starts_a_new_chunk(embedder):
    z = _tokens(embedder)("a cat BREAK a dog")
    assert z.shape[1] == 154
    torch.testing.assert_close(z[0, 77:], _tokens(embedder)("a dog")[0])


def test_prompts_must_be_strings(embedder):
    with pytest.raises(TypeError, match="strings"):
        embedder(["a cat", 3])


def _sdxl_conditioner():
    # SDXL's config ships with sgm-pipelines, which assembles it; skipped where only this package is installed.
    tiny_image_config = pytest.importorskip("sgm.pipelines.testing").tiny_image_config
    torch.manual_seed(0)
    return instantiate(tiny_image_config("sdxl-base").model.params.conditioner_config)


def _sdxl_batch(prompts):
    sizes = torch.tensor([[64.0, 64.0]] * len(prompts))
    return {"txt": prompts, "original_size_as_tuple": sizes, "crop_coords_top_left": sizes * 0,
            "target_size_as_tuple": sizes}  # fmt: skip


def test_sdxl_encoders_give_the_same_token_count():
    conditioner = _sdxl_conditioner()
    clip_l, bigg = conditioner.embedders[0], conditioner.embedders[1]
    out = conditioner(_sdxl_batch([LONG, "a (cat:1.2)"]))
    assert out["crossattn"].shape == (2, 231, 24 + 32) and out["vector"].shape == (2, 16 + 3 * 2 * 8)
    # in text with HTML tags bigG's cleaning still unescapes "&amp;" (one token), CLIP-L's keeps it (three)
    entity = "<b>" + " ".join(["cat"] * 68) + "</b> &amp;"
    assert (clip_l.chunk_count(entity), bigg.chunk_count(entity)) == (2, 1)
    out = conditioner(_sdxl_batch([entity]))
    assert out["crossattn"].shape == (1, 154, 56)
    torch.testing.assert_close(out["crossattn"][:, 77:, 24:], bigg("")[0])  # bigG padded with an empty chunk


def test_cond_and_uncond_of_different_lengths_batch_together():
    conditioner = _sdxl_conditioner()
    c, uc = conditioner.get_unconditional_conditioning(
        _sdxl_batch([" ".join(["cat"] * 100)]), _sdxl_batch([LONG]), force_uc_zero_embeddings=["txt"]
    )
    assert c["crossattn"].shape[1] == uc["crossattn"].shape[1] == 462  # lcm(154, 231)
    assert uc["crossattn"].eq(0).all()
    short, _ = conditioner.get_unconditional_conditioning(_sdxl_batch(["a cat"]))
    assert short["crossattn"].shape[1] == 77


def test_repeated_context_leaves_attention_unchanged():
    torch.manual_seed(0)
    cond = {"crossattn": torch.randn(2, 154, 8, dtype=torch.float64), "vector": torch.randn(2, 4)}
    uncond = {"crossattn": torch.randn(2, 231, 8, dtype=torch.float64), "vector": torch.randn(2, 4)}
    c, uc = repeat_to_same_length(cond, uncond)
    assert c["crossattn"].shape == uc["crossattn"].shape == (2, 462, 8)
    assert c["vector"] is cond["vector"] and uc["vector"] is uncond["vector"]
    query = torch.randn(2, 16, 8, dtype=torch.float64)
    for before, after in ((cond, c), (uncond, uc)):
        context, repeated = before["crossattn"], after["crossattn"]
        torch.testing.assert_close(
            F.scaled_dot_product_attention(query, repeated, repeated),
            F.scaled_dot_product_attention(query, context, context),
        )
    same = {"crossattn": torch.zeros(1, 77, 8)}
    assert repeat_to_same_length(same, same) == (same, same)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float64])
def test_weighted_chunks_keep_the_weights_dtype(tiny_open_clip, dtype):
    bigg = _bigg(tiny_open_clip)
    prompt = f"a (red:1.3) [cube] {LONG}"
    z32, pooled32 = bigg(prompt)
    z, pooled = bigg.to(dtype)(prompt)
    assert z.dtype == pooled.dtype == dtype and z.shape == z32.shape
    tolerance = 1e-1 if dtype == torch.bfloat16 else 1e-5
    torch.testing.assert_close(z.float(), z32, atol=tolerance, rtol=tolerance)
