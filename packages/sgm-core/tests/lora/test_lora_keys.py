"""Reading a LoRA's keys: format detection, grouping per layer, alphas, and what is left out (and reported)."""

import json

import pytest
import torch

from sgm.core.errors import SgmError
from sgm.core.lora.grouping import group_layers
from sgm.core.lora.keys import DIFFUSERS_OLD, KOHYA, PEFT, LoraKey, parse_key


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (
            "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight",
            LoraKey("lora_unet_down_blocks_0_attentions_0_proj_in", "down", KOHYA),
        ),
        (
            "lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_up.weight",
            LoraKey("lora_te2_text_model_encoder_layers_0_mlp_fc1", "up", KOHYA),
        ),
        (
            "lora_te_text_model_encoder_layers_0_mlp_fc1.alpha",
            LoraKey("lora_te_text_model_encoder_layers_0_mlp_fc1", "alpha", KOHYA),
        ),
        (
            "lora_unet_input_blocks_1_0_in_layers_2.lora_mid.weight",
            LoraKey("lora_unet_input_blocks_1_0_in_layers_2", None, KOHYA),
        ),
        (
            "unet.mid_block.attentions.0.proj_out.lora_A.weight",
            LoraKey("unet.mid_block.attentions.0.proj_out", "down", PEFT),
        ),
        (
            "text_encoder_2.text_model.encoder.layers.3.self_attn.q_proj.lora_B.default.weight",
            LoraKey("text_encoder_2.text_model.encoder.layers.3.self_attn.q_proj", "up", PEFT),
        ),
        (
            "unet.up_blocks.1.attentions.0.proj_in.alpha",
            LoraKey("unet.up_blocks.1.attentions.0.proj_in", "alpha", None),
        ),
        (
            "unet.down_blocks.1.resnets.0.conv1.lora.down.weight",
            LoraKey("unet.down_blocks.1.resnets.0.conv1", "down", DIFFUSERS_OLD),
        ),
        (
            "text_encoder.text_model.encoder.layers.0.mlp.fc2.lora_linear_layer.up.weight",
            LoraKey("text_encoder.text_model.encoder.layers.0.mlp.fc2", "up", DIFFUSERS_OLD),
        ),
        (
            "unet.mid_block.attentions.0.transformer_blocks.0.attn1.processor.to_out_lora.up.weight",
            LoraKey("unet.mid_block.attentions.0.transformer_blocks.0.attn1.to_out.0", "up", DIFFUSERS_OLD),
        ),
        (
            "text_encoder.text_model.encoder.layers.0.self_attn.to_k_lora.down.weight",
            LoraKey("text_encoder.text_model.encoder.layers.0.self_attn.k_proj", "down", DIFFUSERS_OLD),
        ),
        ("model.diffusion_model.out.2.weight", None),
    ],
)
def test_each_format_names_the_layer_and_part(key, expected):
    assert parse_key(key) == expected


def _factors(name: str, rank: int = 2, down: str = "lora_down", up: str = "lora_up") -> dict[str, torch.Tensor]:
    return {f"{name}.{down}.weight": torch.ones(rank, 8), f"{name}.{up}.weight": torch.ones(6, rank)}


def test_a_layer_keeps_its_own_alpha_and_defaults_to_scale_one():
    tensors = _factors("lora_unet_a", rank=4) | {"lora_unet_a.alpha": torch.tensor(2.0, dtype=torch.float16)}
    tensors |= _factors("lora_unet_b", rank=2)
    layers = {layer.name: layer for layer in group_layers(tensors, "f").layers}
    assert (layers["lora_unet_a"].rank, layers["lora_unet_a"].alpha, layers["lora_unet_a"].scale) == (4, 2.0, 0.5)
    assert (layers["lora_unet_b"].alpha, layers["lora_unet_b"].scale) == (None, 1.0)


def test_diffusers_metadata_gives_peft_alphas():
    """diffusers keeps PEFT's LoraConfig (`lora_alpha`, `alpha_pattern`) per component in `lora_adapter_metadata`."""
    tensors = _factors("unet.x.proj_in", down="lora_A", up="lora_B") | _factors(
        "unet.x.proj_out", 4, "lora_A", "lora_B"
    )
    tensors |= _factors("text_encoder.y.fc1", down="lora_A", up="lora_B")
    config = {"unet.lora_alpha": 8, "unet.alpha_pattern": {"^x.proj_out": 1}, "unet.r": 2}
    contents = group_layers(tensors, "f", {"lora_adapter_metadata": json.dumps(config)})
    alphas = {layer.name: layer.alpha for layer in contents.layers}
    assert alphas == {"unet.x.proj_in": 8.0, "unet.x.proj_out": 1.0, "text_encoder.y.fc1": None}
    assert contents.format == PEFT


def test_layers_with_parts_out_of_scope_or_half_missing_are_left_out_whole():
    tensors = (
        _factors("lora_unet_ok")
        | _factors("lora_unet_tucker")
        | {"lora_unet_tucker.lora_mid.weight": torch.ones(2, 2, 3, 3)}
    )
    tensors |= _factors("lora_unet_dora") | {"lora_unet_dora.dora_scale": torch.ones(1, 8)}
    tensors |= {"lora_unet_half.lora_down.weight": torch.ones(2, 8), "lora_unet_half.alpha": torch.tensor(1.0)}
    tensors |= {"not_a_lora_key": torch.ones(1)}
    contents = group_layers(tensors, "f")
    assert [layer.name for layer in contents.layers] == ["lora_unet_ok"]
    assert contents.unsupported == sorted(key for key in tensors if not key.startswith("lora_unet_ok."))


def test_factors_that_do_not_multiply_are_an_error_naming_them():
    tensors = {"lora_unet_a.lora_down.weight": torch.ones(2, 8), "lora_unet_a.lora_up.weight": torch.ones(6, 3)}
    with pytest.raises(
        SgmError, match=r"f: lora_unet_a\.lora_up\.weight \[6, 3\] and lora_unet_a\.lora_down\.weight \[2, 8\]"
    ):
        group_layers(tensors, "f")


def test_a_file_without_lora_keys_is_an_error():
    with pytest.raises(SgmError, match="holds no LoRA layers"):
        group_layers({"model.diffusion_model.out.2.weight": torch.ones(4, 4, 3, 3)}, "sd_xl_base_1.0.safetensors")


def test_the_format_is_what_most_keys_are_in():
    tensors = _factors("lora_unet_a") | _factors("lora_unet_b") | _factors("unet.c", down="lora_A", up="lora_B")
    assert group_layers(tensors, "f").format == KOHYA
