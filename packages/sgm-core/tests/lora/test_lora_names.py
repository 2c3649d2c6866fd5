"""Which official key each LoRA layer name reaches: the block regrouping, the text encoders' names, fused q/k/v.

The expectations are the names diffusers and kohya use for the released models (the root test
tests/test_lora_diffusers.py checks the whole UNet mapping against diffusers' own conversion)."""

import json
from pathlib import Path

import pytest

from sgm.core.lora import Slot, lora_slots
from sgm.core.lora.unet_names import diffusers_unet_paths

from .conftest import HFClipText, OpenClipText, TinyEngine

LAYOUTS = Path(__file__).resolve().parents[5] / "shared" / "reference" / "layouts"
UNET = "model.diffusion_model."


def _weight_paths(model) -> list[str]:
    return [key.removesuffix(".weight") for key in model.state_dict() if key.endswith(".weight")]


def _shapes(model) -> dict[str, list[int]]:
    return {key: list(value.shape) for key, value in model.state_dict().items()}


def _layout(name: str) -> dict[str, list[int]]:
    if not LAYOUTS.is_dir():
        pytest.skip("the reference layouts (../shared/reference/layouts) are not present")
    return {key: entry[0] for key, entry in json.loads((LAYOUTS / f"{name}.json").read_text()).items()}


def test_the_flat_block_lists_regroup_per_level():
    """Two ResBlocks per level, a downsampler closing each level but the last, one more block per level going up."""
    paths = diffusers_unet_paths(_weight_paths(TinyEngine("sdxl", ()).model.diffusion_model))
    assert paths["input_blocks.0.0"] == "conv_in"
    assert paths["input_blocks.2.0.in_layers.2"] == "down_blocks.0.resnets.1.conv1"
    assert paths["input_blocks.3.0.op"] == "down_blocks.0.downsamplers.0.conv"
    assert paths["input_blocks.4.0.skip_connection"] == "down_blocks.1.resnets.0.conv_shortcut"
    assert (
        paths["input_blocks.5.1.transformer_blocks.0.attn2.to_k"]
        == "down_blocks.1.attentions.1.transformer_blocks.0.attn2.to_k"
    )
    assert (
        paths["input_blocks.8.1.transformer_blocks.1.ff.net.0.proj"]
        == "down_blocks.2.attentions.1.transformer_blocks.1.ff.net.0.proj"
    )
    assert paths["middle_block.1.proj_in"] == "mid_block.attentions.0.proj_in"
    assert paths["middle_block.2.emb_layers.1"] == "mid_block.resnets.1.time_emb_proj"
    assert paths["output_blocks.2.2.conv"] == "up_blocks.0.upsamplers.0.conv"
    assert paths["output_blocks.3.1.proj_out"] == "up_blocks.1.attentions.0.proj_out"
    assert paths["output_blocks.5.2.conv"] == "up_blocks.1.upsamplers.0.conv"
    assert paths["output_blocks.8.0.out_layers.3"] == "up_blocks.2.resnets.2.conv2"
    assert paths["label_emb.0.2"] == "add_embedding.linear_2"
    assert paths["out.2"] == "conv_out"


def test_parameterless_downsamplers_still_close_their_level():
    paths = diffusers_unet_paths(_weight_paths(TinyEngine("conv", ()).model.diffusion_model))
    # level 0: one ResBlock (input_blocks.1), an average-pooling downsampler without keys (2), level 1: blocks 3, 4
    assert paths["input_blocks.3.1.proj_in"] == "down_blocks.1.attentions.0.proj_in"
    assert paths["input_blocks.4.0.in_layers.2"] == "down_blocks.1.resnets.1.conv1"
    assert paths["output_blocks.3.0.in_layers.2"] == "up_blocks.1.resnets.0.conv1"


def test_two_text_encoders_are_te1_and_te2_with_q_k_v_as_rows_of_in_proj():
    slots = lora_slots(_shapes(TinyEngine("sdxl", (HFClipText, OpenClipText))))
    clip = "conditioner.embedders.0.transformer.text_model.encoder.layers.1."
    open_clip = "conditioner.embedders.1.model.transformer.resblocks.1."
    for name in (
        "lora_te1_text_model_encoder_layers_1_self_attn_q_proj",
        "lora_te_text_model_encoder_layers_1_self_attn_q_proj",
        "text_encoder.text_model.encoder.layers.1.self_attn.q_proj",
    ):
        assert slots[name] == Slot(clip + "self_attn.q_proj.weight")
    assert slots["lora_te2_text_model_encoder_layers_1_self_attn_k_proj"] == Slot(
        open_clip + "attn.in_proj_weight", slice(24, 48)
    )
    assert slots["text_encoder_2.text_model.encoder.layers.1.self_attn.v_proj"] == Slot(
        open_clip + "attn.in_proj_weight", slice(48, 72)
    )
    assert slots["lora_te2_text_model_encoder_layers_1_self_attn_out_proj"] == Slot(open_clip + "attn.out_proj.weight")
    assert slots["lora_te2_text_model_encoder_layers_1_mlp_fc1"] == Slot(open_clip + "mlp.c_fc.weight")
    assert slots["text_encoder_2.text_model.encoder.layers.1.mlp.fc2"] == Slot(open_clip + "mlp.c_proj.weight")


def test_a_sole_encoder_is_te_except_beside_a_vector_conditioned_unet():
    """SD 2.x's OpenCLIP ViT-H is `text_encoder`; the SDXL refiner's only encoder (ViT-bigG) is `text_encoder_2`."""
    sd21 = lora_slots(_shapes(TinyEngine("sd21", (OpenClipText,))))
    refiner = lora_slots(_shapes(TinyEngine("sdxl", (OpenClipText,))))
    name = "text_model.encoder.layers.0.mlp.fc1"
    assert f"lora_te_{name.replace('.', '_')}" in sd21 and f"text_encoder.{name}" in sd21
    assert not any(key.startswith(("lora_te2_", "text_encoder_2.")) for key in sd21)
    assert f"lora_te2_{name.replace('.', '_')}" in refiner and f"text_encoder_2.{name}" in refiner
    assert not any(key.startswith(("lora_te_", "lora_te1_", "text_encoder.")) for key in refiner)


def test_the_released_sdxl_base_names():
    shapes = _layout("sd_xl_base")
    slots = lora_slots(shapes)
    assert slots["lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q"] == Slot(
        f"{UNET}input_blocks.4.1.transformer_blocks.0.attn1.to_q.weight"
    )
    assert slots["unet.down_blocks.2.attentions.1.transformer_blocks.9.attn2.to_k"] == Slot(
        f"{UNET}input_blocks.8.1.transformer_blocks.9.attn2.to_k.weight"
    )
    assert slots["lora_unet_up_blocks_0_attentions_2_proj_out"] == Slot(f"{UNET}output_blocks.2.1.proj_out.weight")
    assert slots["lora_unet_up_blocks_1_upsamplers_0_conv"] == Slot(f"{UNET}output_blocks.5.2.conv.weight")
    assert slots["lora_te2_text_model_encoder_layers_31_self_attn_v_proj"] == Slot(
        "conditioner.embedders.1.model.transformer.resblocks.31.attn.in_proj_weight", slice(2560, 3840)
    )
    matrices = {
        key for key, shape in shapes.items() if key.startswith(UNET) and key.endswith(".weight") and len(shape) >= 2
    }
    assert {slot.key for name, slot in slots.items() if name.startswith("unet.")} == matrices
    assert sum(name.startswith("text_encoder.") for name in slots) == 12 * 6  # CLIP ViT-L: q, k, v, out, fc1, fc2
    assert sum(name.startswith("text_encoder_2.") for name in slots) == 32 * 6  # OpenCLIP ViT-bigG


def test_the_released_sd21_names_in_ours_and_in_the_ldm_files_layout():
    shapes = _layout("sd_2_1")
    ldm = {key.replace("conditioner.embedders.0.", "cond_stage_model."): shape for key, shape in shapes.items()}
    for prefix, slots in (("conditioner.embedders.0.", lora_slots(shapes)), ("cond_stage_model.", lora_slots(ldm))):
        assert slots["lora_te_text_model_encoder_layers_22_self_attn_k_proj"] == Slot(
            f"{prefix}model.transformer.resblocks.22.attn.in_proj_weight", slice(1024, 2048)
        )
        assert slots["lora_unet_up_blocks_3_attentions_2_transformer_blocks_0_attn2_to_k"] == Slot(
            f"{UNET}output_blocks.11.1.transformer_blocks.0.attn2.to_k.weight"
        )
        assert slots["lora_unet_down_blocks_0_attentions_1_proj_in"] == Slot(f"{UNET}input_blocks.2.1.proj_in.weight")


def test_the_released_svd_names():
    slots = lora_slots(_layout("svd"))
    assert slots["unet.down_blocks.0.resnets.0.spatial_res_block.conv1"] == Slot(
        f"{UNET}input_blocks.1.0.in_layers.2.weight"
    )
    assert slots["unet.down_blocks.0.resnets.0.temporal_res_block.conv2"] == Slot(
        f"{UNET}input_blocks.1.0.time_stack.out_layers.3.weight"
    )
    assert slots["unet.mid_block.attentions.0.temporal_transformer_blocks.0.ff_in.net.2"] == Slot(
        f"{UNET}middle_block.1.time_stack.0.ff_in.net.2.weight"
    )
    assert slots["unet.up_blocks.1.attentions.2.time_pos_embed.linear_1"] == Slot(
        f"{UNET}output_blocks.5.1.time_pos_embed.0.weight"
    )
