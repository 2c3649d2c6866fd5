"""`sgm.pipelines.testing.tiny_image_config`: the shipped image configs made tiny keep their classes and wiring, build
with the real encoders, autoencoder and UNet, and sample."""

import re
from types import MappingProxyType

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from sgm.pipelines import catalog
from sgm.core.config import instantiate
from sgm.core.errors import SgmError
from sgm.pipelines import ImagePipeline, Prompt, load_pipeline
from sgm.pipelines.testing import TINY_OPEN_CLIP, install_tiny_model, tiny_image_config
from sgm.kernels import PackedConv2d, PackedLinear

pytest.importorskip("sgm.conditioners.general", reason="the real text encoders live in sgm-conditioners")
pytest.importorskip("sgm.autoencoders.engine", reason="the real autoencoders live in sgm-autoencoders")

IMAGE_MODELS = ("sd-2.1", "sd-2.1-768", "sdxl-base", "sdxl-refiner", "sdxl-turbo", "sd-turbo")


def _targets(node) -> list[str]:
    if isinstance(node, dict):
        own = [node["target"]] if "target" in node else []
        return own + [target for value in node.values() for target in _targets(value)]
    if isinstance(node, list):
        return [target for item in node for target in _targets(item)]
    return []


def _key_pattern(key: str) -> str:
    return re.sub(r"\d+", "#", key)


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_tiny_config_keeps_the_shipped_classes_and_checkpoint_keys(name):
    tiny = OmegaConf.to_container(tiny_image_config(name))
    shipped = OmegaConf.to_container(catalog.read_config(catalog.get_entry(name).config))
    assert set(tiny) == set(shipped) == {"sampling", "model"}
    assert _targets(tiny["model"]) == _targets(shipped["model"])
    torch.manual_seed(0)
    engine = instantiate(tiny["model"])
    assert sum(p.numel() for p in engine.parameters()) < 6_000_000
    # Every key of the tiny model is a key of the official layout up to block and layer numbers.
    official = {_key_pattern(key) for key in catalog.expected_layout(name)}
    assert {_key_pattern(key) for key in engine.state_dict()} <= official


@pytest.mark.parametrize("name", ["sdxl-base", "sdxl-refiner"])
def test_tiny_model_samples_at_one_eighth_latents(name):
    torch.manual_seed(0)
    engine = instantiate(tiny_image_config(name).model)
    pipeline = ImagePipeline(engine, name=name, defaults=catalog.get_entry(name).defaults | {"steps": 1},
                             size_multiple=64, watermark=False)  # fmt: skip
    if name == "sdxl-refiner":
        samples = pipeline.img2img(np.full((64, 128, 3), 100, np.uint8), "a lighthouse", progress=False)
    else:
        samples = pipeline.txt2img("a lighthouse", width=128, height=64, progress=False)
    assert samples[0].size == (128, 64) and samples.latents.shape == (1, 4, 8, 16)


def test_models_without_a_tiny_config():
    with pytest.raises(SgmError, match="no tiny config for svd"):
        tiny_image_config("svd")


PACKED = (PackedConv2d, PackedLinear)


@pytest.mark.parametrize("dtype", ["fp16", "bf16", "fp32", "fp64"])
def test_load_pipeline_in_a_dtype_keeps_a_half_models_autoencoder_in_fp32(dtype, tmp_path, monkeypatch):
    """api.py halves the conditioner and the UNet only; fp64 applies to everything. fp32 networks on the CPU
    get packed convolutions and linear layers."""
    entry = install_tiny_model("sdxl-base", tmp_path / "checkpoints", tmp_path, defaults={"width": 64, "height": 64})
    monkeypatch.setattr(catalog, "CATALOG", MappingProxyType(dict(catalog.CATALOG) | {"sdxl-base": entry}))
    monkeypatch.setenv(catalog.CHECKPOINT_DIR_ENV, str(tmp_path / "checkpoints"))
    pipeline = load_pipeline("sdxl-base", device="cpu", dtype=dtype, watermark=False)
    expected = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32, "fp64": torch.float64}[dtype]
    engine = pipeline.engine
    assert {p.dtype for p in [*engine.model.parameters(), *engine.conditioner.parameters()]} == {expected}
    def kinds(module):  # subclasses of nn.Conv2d (the decoder's PlainConv2d) stay as they are
        return {type(m) for m in module.modules() if type(m) in (torch.nn.Conv2d, torch.nn.Linear, *PACKED)}

    plain, packed = {torch.nn.Conv2d, torch.nn.Linear}, set(PACKED)
    assert kinds(engine.model) == (packed if dtype == "fp32" else plain)
    assert kinds(engine.first_stage_model) == ({torch.nn.Conv2d} if dtype == "fp64" else {PackedConv2d})
    first_stage = {p.dtype for p in engine.first_stage_model.parameters()}
    assert first_stage == ({torch.float64} if dtype == "fp64" else {torch.float32})
    samples = pipeline.txt2img("a lighthouse", steps=2, progress=False)
    assert samples[0].size == (64, 64) and torch.isfinite(samples.latents).all()


@torch.no_grad()
def test_catalog_defaults_zero_sdxl_bases_unconditional_text_only():
    """sdxl-base's unconditional input has zero text embeddings (cross-attention and pooled) but real size
    embeddings; sd-2.1's is the empty prompt's embedding, as the reference's "is_legacy" models."""
    pipelines = {}
    for name in ("sdxl-base", "sd-2.1"):
        torch.manual_seed(0)
        engine = instantiate(tiny_image_config(name).model)
        pipelines[name] = ImagePipeline(engine, name=name, defaults=catalog.get_entry(name).defaults, watermark=False)
    cond, uncond = pipelines["sdxl-base"].conditionings_for(Prompt("a cat"), 1, (64, 64))
    pooled = TINY_OPEN_CLIP["embed_dim"]
    assert not uncond["crossattn"].any() and not uncond["vector"][:, :pooled].any()
    assert torch.equal(uncond["vector"][:, pooled:], cond["vector"][:, pooled:]) and cond["crossattn"].any()
    _, uncond = pipelines["sd-2.1"].conditionings_for(Prompt("a cat"), 1, (64, 64))
    assert torch.equal(uncond["crossattn"], pipelines["sd-2.1"].engine.conditioner({"txt": [""]})["crossattn"])
