"""OpenCLIP text and image embedders on a tiny open_clip config: layers, pooling, preprocessing, dropout, layouts."""

import pytest
import torch
from sgm.conditioners.open_clip_image import (
    CLIP_MEAN,
    CLIP_STD,
    FrozenOpenCLIPImageEmbedder,
    FrozenOpenCLIPImagePredictionEmbedder,
)
from sgm.conditioners.open_clip_text import FrozenOpenCLIPEmbedder, FrozenOpenCLIPEmbedder2

PROMPTS = ["a photo of a cat", "a red cube on a table"]


def _copy(embedder, source):
    embedder.load_state_dict(source.state_dict())
    return embedder


@pytest.fixture
def sdxl_text(tiny_open_clip):
    torch.manual_seed(0)
    return FrozenOpenCLIPEmbedder2(arch=tiny_open_clip, layer="penultimate", always_return_pooled=True, legacy=False)


def test_pooled_is_open_clips_text_embedding(sdxl_text):
    penultimate, pooled = sdxl_text(PROMPTS)
    assert penultimate.shape == (2, 77, 32) and pooled.shape == (2, 16)
    tokens = sdxl_text.tokenize(PROMPTS)
    torch.testing.assert_close(pooled, sdxl_text.model.encode_text(tokens))


def test_layers_match_between_embedders(sdxl_text, tiny_open_clip):
    raw_penultimate, _ = sdxl_text(PROMPTS)
    sd21 = _copy(FrozenOpenCLIPEmbedder(arch=tiny_open_clip, layer="penultimate"), sdxl_text)
    legacy = _copy(FrozenOpenCLIPEmbedder2(arch=tiny_open_clip, layer="penultimate"), sdxl_text)
    ln_final = sdxl_text.model.ln_final
    # the non-legacy penultimate output is the block output before the final LayerNorm
    torch.testing.assert_close(sd21(PROMPTS), ln_final(raw_penultimate))
    torch.testing.assert_close(legacy(PROMPTS), ln_final(raw_penultimate))
    last = _copy(FrozenOpenCLIPEmbedder(arch=tiny_open_clip, layer="last"), sdxl_text)
    tokens = sdxl_text.tokenize(PROMPTS)
    model = sdxl_text.model
    whole = model.transformer(model.token_embedding(tokens) + model.positional_embedding, attn_mask=model.attn_mask)
    torch.testing.assert_close(last(PROMPTS), ln_final(whole))


def test_text_state_dict_and_tokens(sdxl_text):
    keys = set(sdxl_text.state_dict())
    assert not any(key.startswith("model.visual") for key in keys)
    assert {"model.text_projection", "model.logit_scale", "model.transformer.resblocks.2.attn.in_proj_weight"} <= keys
    tokens = sdxl_text.tokenize("a cat")
    assert tokens.shape == (1, 77) and tokens[0, 4:].eq(0).all()  # open_clip pads with 0


def test_text_fp64_stays_fp64(sdxl_text):
    _, pooled32 = sdxl_text(PROMPTS)
    z64, pooled64 = sdxl_text.double()(PROMPTS)
    assert z64.dtype == pooled64.dtype == torch.float64
    torch.testing.assert_close(pooled64.float(), pooled32, atol=1e-4, rtol=1e-4)


def test_text_option_errors(tiny_open_clip):
    with pytest.raises(ValueError, match="legacy=False"):
        FrozenOpenCLIPEmbedder2(arch=tiny_open_clip, always_return_pooled=True)
    with pytest.raises(NotImplementedError):
        FrozenOpenCLIPEmbedder2(arch=tiny_open_clip, layer="pooled")
    with pytest.raises(ValueError, match="unknown open_clip architecture"):
        FrozenOpenCLIPEmbedder(arch="ViT-Q-99")


@pytest.fixture
def image_embedder(tiny_open_clip):
    torch.manual_seed(0)
    return FrozenOpenCLIPImageEmbedder(arch=tiny_open_clip)


def test_image_embedding_normalises_like_clip(image_embedder):
    images = torch.rand(2, 3, 32, 32) * 2 - 1  # already the tower's size: no resize
    mean, std = torch.tensor(CLIP_MEAN)[:, None, None], torch.tensor(CLIP_STD)[:, None, None]
    expected = image_embedder.model.encode_image(((images + 1) / 2 - mean) / std)
    torch.testing.assert_close(image_embedder(images), expected)
    assert image_embedder(torch.rand(2, 3, 48, 40)).shape == (2, 16)  # resized to 32x32 first


def test_image_state_dict_keeps_text_leftovers(image_embedder):
    keys = set(image_embedder.state_dict())
    assert {
        "model.token_embedding.weight",
        "model.ln_final.weight",
        "model.text_projection",
        "model.visual.proj",
    } <= keys
    assert not any(key.startswith("model.transformer.") for key in keys)
    assert "mean" not in keys and "std" not in keys


def test_image_dropout_and_output_forms(tiny_open_clip, image_embedder):
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    dropped = _copy(FrozenOpenCLIPImageEmbedder(arch=tiny_open_clip, ucg_rate=1.0, unsqueeze_dim=True), image_embedder)
    assert dropped(images).shape == (3, 1, 16) and dropped(images).eq(0).all()
    torch.testing.assert_close(dropped(images, no_dropout=True)[:, 0], image_embedder(images))
    repeated = _copy(
        FrozenOpenCLIPImageEmbedder(arch=tiny_open_clip, repeat_to_max_len=True, max_length=5), image_embedder
    )
    tokens, z = repeated(images)
    assert tokens.shape == (3, 5, 16) and torch.equal(tokens, z[:, None].expand(3, 5, 16))
    with_tokens = _copy(FrozenOpenCLIPImageEmbedder(arch=tiny_open_clip, output_tokens=True), image_embedder)
    patch_tokens, z = with_tokens(images)
    assert patch_tokens.shape == (3, 4, 32)  # (32 / 16)^2 patches of the tower's width
    torch.testing.assert_close(z, image_embedder(images))


def test_image_crops_are_padded_and_dropped_independently(tiny_open_clip, image_embedder):
    crops = _copy(FrozenOpenCLIPImageEmbedder(arch=tiny_open_clip, num_image_crops=2, max_length=4), image_embedder)
    images = torch.rand(3, 2, 3, 32, 32) * 2 - 1
    padded, first = crops(images)
    assert padded.shape == (3, 4, 16) and padded[:, 2:].eq(0).all()
    torch.testing.assert_close(padded[:, 1], image_embedder(images[:, 1]))
    torch.testing.assert_close(first, padded[:, 0])
    with pytest.raises(ValueError, match="crops"):
        crops(torch.rand(1, 3, 3, 32, 32))


def test_prediction_embedder_groups_frames_and_copies(tiny_open_clip, image_embedder):
    config = {"target": "sgm.modules.encoders.modules.FrozenOpenCLIPImageEmbedder", "params": {"arch": tiny_open_clip}}
    embedder = FrozenOpenCLIPImagePredictionEmbedder(config, n_cond_frames=2, n_copies=3)
    embedder.open_clip.load_state_dict(image_embedder.state_dict())
    frames = torch.rand(4, 3, 32, 32) * 2 - 1  # 2 samples x 2 frames
    out = embedder(frames)
    z = image_embedder(frames)
    assert out.shape == (6, 2, 16)
    for sample in range(2):
        for copy in range(3):
            torch.testing.assert_close(out[sample * 3 + copy], z[sample * 2 : sample * 2 + 2])
