"""The peer check: the same random LoRA on the same random UNet weights gives the same UNet output in diffusers
(`load_lora_weights`' UNet half: `lora_state_dict` + `load_lora_into_unet`) and here (`apply_loras`).

Both UNets are tiny and SDXL-like (linear transformer projections, cross-attention context, `text_time` vector
conditioning, a first level without attention). The official-layout weights reach diffusers through its own
single-file conversion with a local config, so the only thing compared is how each side applies the LoRA. Kohya
files are compared with alphas uniform per layer kind: diffusers 0.42 gives every attention layer of a kohya
file the most common alpha (its alpha_pattern keys carry `.processor.`, which match no module), so per-module
alphas are tested against the plain merge formula in packages/sgm-core/tests/lora instead.
"""

import json
import os

import pytest
import torch

from sgm.core.lora import apply_loras, lora_slots
from sgm.core.nn.unet import UNetModel

os.environ["HF_HUB_OFFLINE"] = "1"  # diffusers must never reach the network here (read when it is imported)
diffusers = pytest.importorskip("diffusers", reason="diffusers (a dev dependency) is not installed")
pytest.importorskip("peft", reason="peft (diffusers' LoRA backend, a dev dependency) is not installed")
from diffusers import UNet2DConditionModel  # noqa: E402
from diffusers.loaders import StableDiffusionXLLoraLoaderMixin  # noqa: E402
from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, convert_open_clip_checkpoint  # noqa: E402
from peft import LoraConfig  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

TIME_IDS, TIME_WIDTH, POOLED = 6, 8, 16  # SDXL's six size/crop numbers, each embedded in TIME_WIDTH; pooled text
OURS = dict(in_channels=4, model_channels=32, out_channels=4, num_res_blocks=2, attention_resolutions=[2, 4],
            channel_mult=[1, 2, 2], num_head_channels=16, transformer_depth=[1, 1, 2], context_dim=24,
            use_linear_in_transformer=True, num_classes="sequential", adm_in_channels=POOLED + TIME_IDS * TIME_WIDTH,
            spatial_transformer_attn_type="softmax-xformers")  # fmt: skip
THEIRS = dict(sample_size=16, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=[32, 64, 64],
              down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
              up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"], cross_attention_dim=24,
              attention_head_dim=[2, 4, 4], use_linear_projection=True, transformer_layers_per_block=[1, 1, 2],
              addition_embed_type="text_time", addition_time_embed_dim=TIME_WIDTH,
              projection_class_embeddings_input_dim=POOLED + TIME_IDS * TIME_WIDTH)  # fmt: skip
# Rank and alpha per layer kind; attention projections are the most common kind, so they get diffusers' default.
KINDS = {"attention": (4, 2.0), "feed_forward": (2, 3.0), "projection": (3, 1.5), "conv": (2, 4.0), "linear": (2, 1.0)}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Offline also where huggingface_hub was imported before this module set the variable."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def _kind(path: str) -> str | None:
    """The layer kind of an official UNet weight a kohya LoRA trains (LoCon included), None for the rest."""
    if any(f".{name}." in f"{path}." for name in ("to_q", "to_k", "to_v")) or path.endswith("to_out.0"):
        return "attention"
    if path.endswith(("ff.net.0.proj", "ff.net.2")):
        return "feed_forward"
    if path.endswith(("proj_in", "proj_out")):
        return "projection"
    if path.endswith(("in_layers.2", "out_layers.3", "skip_connection", ".op")) or path.endswith("1.conv"):
        return "conv"
    if path.endswith("emb_layers.1"):
        return "linear"
    return None


def _diffusers_paths(unet: UNetModel) -> dict[str, str]:
    """`{official module path: diffusers module path}` as diffusers' own single-file conversion renames them."""
    official = {f"model.diffusion_model.{key}": key for key in unet.state_dict()}
    renamed = convert_ldm_unet_checkpoint(official, {"layers_per_block": THEIRS["layers_per_block"]})
    return {key.removesuffix(".weight"): name.removesuffix(".weight") for name, key in renamed.items()}


def _random_lora(unet: UNetModel, naming: str, generator: torch.Generator) -> tuple[dict, dict]:
    """A random LoRA file's tensors and metadata for `unet`, with rank and alpha per layer kind (LoCon layers
    included). naming: "kohya-official" (kohya's SDXL scripts), "kohya-diffusers" (its SD 1/2 scripts) or "peft"
    (diffusers' own files, alphas in PEFT's LoraConfig in the metadata)."""
    tensors, ranks, alphas = {}, {}, {}
    diffusers_paths = _diffusers_paths(unet)
    for key, weight in unet.state_dict().items():
        path = key.removesuffix(".weight")
        kind = _kind(path) if key.endswith(".weight") and weight.ndim >= 2 else None
        if kind is None:
            continue
        rank, alpha = KINDS[kind]
        down = torch.randn((rank, *weight.shape[1:]), generator=generator) * 0.1
        up = torch.randn((weight.shape[0], rank, *[1] * (weight.ndim - 2)), generator=generator) * 0.1
        if naming == "peft":
            name = diffusers_paths[path]
            tensors |= {f"unet.{name}.lora_A.weight": down, f"unet.{name}.lora_B.weight": up}
            ranks[name], alphas[name] = rank, alpha
            continue
        name = "lora_unet_" + (path if naming == "kohya-official" else diffusers_paths[path]).replace(".", "_")
        tensors |= {
            f"{name}.lora_down.weight": down,
            f"{name}.lora_up.weight": up,
            f"{name}.alpha": torch.tensor(alpha),
        }
    if naming != "peft":
        return tensors, {}
    rank, alpha = KINDS["attention"]
    config = LoraConfig(
        r=rank,
        lora_alpha=alpha,
        target_modules=sorted(ranks),
        rank_pattern={name: r for name, r in ranks.items() if r != rank},
        alpha_pattern={name: a for name, a in alphas.items() if a != alpha},
    ).to_dict()
    metadata = {f"unet.{field}": value for field, value in config.items()}
    return tensors, {"lora_adapter_metadata": json.dumps(metadata, default=sorted)}


@pytest.fixture
def unets() -> tuple[UNetModel, UNet2DConditionModel]:
    generator = torch.Generator().manual_seed(0)
    ours = UNetModel(**OURS).eval()
    with torch.no_grad():
        for parameter in ours.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)
    theirs = UNet2DConditionModel(**THEIRS).eval()
    official = {f"model.diffusion_model.{key}": value for key, value in ours.state_dict().items()}
    theirs.load_state_dict(convert_ldm_unet_checkpoint(official, dict(theirs.config)), strict=True)
    return ours, theirs


def _outputs(ours: UNetModel, theirs: UNet2DConditionModel) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 16, 16, generator=generator)
    t = torch.tensor([10.0, 700.0])
    context = torch.randn(2, 7, 24, generator=generator)
    pooled = torch.randn(2, POOLED, generator=generator)
    time_ids = torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0], [32.0, 48.0, 4.0, 8.0, 64.0, 64.0]])
    with torch.no_grad():
        # SDXL's vector: the pooled text embedding, then each size/crop number's sinusoidal embedding.
        y = torch.cat([pooled, theirs.add_time_proj(time_ids.flatten()).reshape(2, -1)], dim=1)
        mine = ours(x, t, context=context, y=y)
        peer = theirs(
            x, t, encoder_hidden_states=context, added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids}
        ).sample
    return mine, peer


def _close(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("naming", ["kohya-official", "kohya-diffusers", "peft"])
def test_lora_matches_diffusers(naming, unets, tmp_path):
    ours, theirs = unets
    base, peer_base = _outputs(ours, theirs)
    assert _close(base, peer_base) < 1e-5  # the conversion itself is exact: the LoRA is all that differs below

    tensors, metadata = _random_lora(ours, naming, torch.Generator().manual_seed(2))
    path = tmp_path / "lora.safetensors"
    save_file(tensors, path, metadata=metadata)
    loader = StableDiffusionXLLoraLoaderMixin
    state, alphas, peft_config = loader.lora_state_dict(str(path), unet_config=theirs.config, return_lora_metadata=True)
    loader.load_lora_into_unet(state, alphas, theirs, metadata=peft_config)
    applied = apply_loras(ours, [(path, 1.0)])

    report = applied.reports[0]
    assert report.format == ("diffusers-peft" if naming == "peft" else "kohya") and not report.unmatched
    assert report.matched == len(tensors) // (2 if naming == "peft" else 3)
    mine, peer = _outputs(ours, theirs)
    assert _close(mine, base) > 1e-2  # the LoRA changes the output a lot...
    assert _close(mine, peer) < 1e-5  # ...and the same way in both


@pytest.mark.parametrize(("layout", "layers_per_block"), [("sd_2_1", 2), ("sd_xl_base", 2), ("sd_xl_refiner", 2)])
def test_every_unet_layer_has_the_name_diffusers_conversion_gives_it(layout, layers_per_block, shared_dir):
    """The released UNets' layouts, renamed by diffusers' single-file conversion, and by ours."""
    shapes = {
        key: entry[0]
        for key, entry in json.loads((shared_dir / "reference" / "layouts" / f"{layout}.json").read_text()).items()
    }
    unet = {key: key for key in shapes if key.startswith("model.diffusion_model.")}
    config = {
        "layers_per_block": layers_per_block,
        "addition_embed_type": "text_time" if "label_emb" in str(unet) else None,
    }
    theirs = {key: name.removesuffix(".weight") for name, key in convert_ldm_unet_checkpoint(unet, config).items()}
    slots = lora_slots(shapes)
    ours = {slot.key: name.removeprefix("unet.") for name, slot in slots.items() if name.startswith("unet.")}
    matrices = {key: name for key, name in theirs.items() if key.endswith(".weight") and len(shapes[key]) >= 2}
    assert ours == matrices


def test_open_clip_q_k_v_are_the_rows_diffusers_conversion_takes():
    """SD 2.x's text encoder in the ldm layout, split by diffusers into transformers' q/k/v/out/fc1/fc2."""
    generator = torch.Generator().manual_seed(0)
    prefix, width = "cond_stage_model.model.", 8
    state = {
        f"{prefix}token_embedding.weight": torch.randn(10, width, generator=generator),
        f"{prefix}text_projection": torch.randn(width, width, generator=generator),
    }
    for layer in range(2):
        block = f"{prefix}transformer.resblocks.{layer}."
        for name, shape in (
            ("attn.in_proj_weight", (3 * width, width)),
            ("attn.out_proj.weight", (width, width)),
            ("mlp.c_fc.weight", (4 * width, width)),
            ("mlp.c_proj.weight", (width, 4 * width)),
        ):
            state[block + name] = torch.randn(shape, generator=generator)
    theirs = convert_open_clip_checkpoint(None, state, prefix=prefix)
    slots = {
        name: slot
        for name, slot in lora_slots({k: list(v.shape) for k, v in state.items()}).items()
        if name.startswith("text_encoder.")
    }
    assert len(slots) == 2 * 6
    for name, slot in slots.items():
        rows = slice(None) if slot.rows is None else slot.rows
        assert torch.equal(theirs[name.removeprefix("text_encoder.") + ".weight"], state[slot.key][rows]), name


def test_svd_unet_layers_have_the_names_of_diffusers_spatio_temporal_unet():
    """No single-file conversion exists for SVD in diffusers: its module names and shapes are the reference."""
    video = pytest.importorskip("sgm.video.unet", reason="sgm-video is not installed")
    from diffusers import UNetSpatioTemporalConditionModel

    ours = video.VideoUNet(
        in_channels=8,
        out_channels=4,
        model_channels=32,
        attention_resolutions=[2, 1],
        num_res_blocks=2,
        channel_mult=[1, 2],
        num_head_channels=16,
        use_linear_in_transformer=True,
        transformer_depth=1,
        context_dim=16,
        adm_in_channels=24,
        num_classes="sequential",
        extra_ff_mix_layer=True,
        use_spatial_context=True,
        merge_strategy="learned_with_images",
        video_kernel_size=[3, 1, 1],
    )
    theirs = UNetSpatioTemporalConditionModel(
        sample_size=16,
        in_channels=8,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=2,
        down_block_types=("CrossAttnDownBlockSpatioTemporal",) * 2,
        up_block_types=("CrossAttnUpBlockSpatioTemporal",) * 2,
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=24,
        cross_attention_dim=16,
        transformer_layers_per_block=1,
        num_attention_heads=(2, 4),
        num_frames=2,
    )
    shapes = {key: list(value.shape) for key, value in ours.state_dict().items()}
    their_shapes = {
        key.removesuffix(".weight"): list(value.shape)
        for key, value in theirs.state_dict().items()
        if key.endswith(".weight") and value.ndim >= 2
    }
    named = {
        name.removeprefix("unet."): shapes[slot.key]
        for name, slot in lora_slots(shapes).items()
        if name.startswith("unet.")
    }
    assert named == their_shapes
