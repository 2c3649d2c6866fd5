"""LoRAs on the real tiny engines (sgm.pipelines.testing's configs: real CLIP and OpenCLIP text encoders, real UNet):
each text encoder gets the layers its name says, q/k/v land on their rows of OpenCLIP's fused in_proj, the SDXL
refiner's only encoder is SDXL's second, and side layers give the merged outputs on every part."""

import pytest
import torch

from sgm.core.config import instantiate
from sgm.core.lora import apply_loras
from sgm.pipelines.testing import tiny_image_config

UNET = "model.diffusion_model."
CLIP = "conditioner.embedders.0.transformer.text_model.encoder.layers."


def _engine(name: str, seed: int = 0):
    torch.manual_seed(seed)
    engine = instantiate(tiny_image_config(name).model).eval()
    with torch.no_grad():  # the UNet's output layer starts at zero, which would hide a LoRA on it
        for parameter in engine.model.parameters():
            parameter.copy_(torch.randn_like(parameter) * 0.05)
    return engine


def _random_lora(engine, layers: dict[str, tuple[str, slice | None]], seed: int = 1) -> tuple[dict, dict]:
    """A kohya file with a random layer for each `{name: (official key, rows)}`, and the plain merge
    `{key: fp32 update}` of `alpha / rank * up @ down` it stands for (each layer with its own rank and alpha)."""
    generator = torch.Generator().manual_seed(seed)
    state = engine.state_dict()
    tensors, updates = {}, {}
    for index, (name, (key, rows)) in enumerate(layers.items()):
        shape = list(state[key].shape)
        out = shape[0] if rows is None else rows.stop - rows.start
        rank, alpha = 1 + index % 3, 0.5 + index
        down = torch.randn((rank, *shape[1:]), generator=generator) * 0.3
        up = torch.randn((out, rank, *[1] * (len(shape) - 2)), generator=generator) * 0.3
        tensors |= {
            f"{name}.lora_down.weight": down,
            f"{name}.lora_up.weight": up,
            f"{name}.alpha": torch.tensor(alpha),
        }
        update = updates.setdefault(key, torch.zeros(shape))
        update[slice(None) if rows is None else rows] += (
            alpha / rank * (up.flatten(1) @ down.flatten(1)).reshape(out, *shape[1:])
        )
    return tensors, updates


def _outputs(engine) -> list[torch.Tensor]:
    """Every text encoder's outputs for one prompt, and the UNet's on random inputs."""
    outputs = []
    for embedder in engine.conditioner.embedders:
        if hasattr(embedder, "tokenizer"):
            result = embedder(["a lighthouse at dusk"])
            outputs += list(result) if isinstance(result, tuple | list) else [result]
    unet = engine.model.diffusion_model
    generator = torch.Generator().manual_seed(3)
    context = torch.cat([output for output in outputs if output.ndim == 3], dim=-1)  # the token embeddings
    y = torch.randn(1, unet.label_emb[0][0].in_features, generator=generator) if hasattr(unet, "label_emb") else None
    x = torch.randn(1, unet.in_channels, 8, 8, generator=generator)
    outputs.append(unet(x, torch.tensor([500.0]), context=context, y=y))
    return [output.detach() for output in outputs]


def _sdxl_layers(width: int) -> dict[str, tuple[str, slice | None]]:
    open_clip = "conditioner.embedders.1.model.transformer.resblocks."
    return {
        "lora_te1_text_model_encoder_layers_1_self_attn_q_proj": (f"{CLIP}1.self_attn.q_proj.weight", None),
        "lora_te1_text_model_encoder_layers_0_mlp_fc1": (f"{CLIP}0.mlp.fc1.weight", None),
        "lora_te2_text_model_encoder_layers_1_self_attn_k_proj": (
            f"{open_clip}1.attn.in_proj_weight",
            slice(width, 2 * width),
        ),
        "lora_te2_text_model_encoder_layers_1_self_attn_v_proj": (
            f"{open_clip}1.attn.in_proj_weight",
            slice(2 * width, 3 * width),
        ),
        "lora_te2_text_model_encoder_layers_0_mlp_fc2": (f"{open_clip}0.mlp.c_proj.weight", None),
        "lora_unet_input_blocks_1_0_in_layers_2": (f"{UNET}input_blocks.1.0.in_layers.2.weight", None),  # LoCon 3x3
        "lora_unet_input_blocks_3_1_transformer_blocks_0_attn2_to_k": (
            f"{UNET}input_blocks.3.1.transformer_blocks.0.attn2.to_k.weight",
            None,
        ),
        "lora_unet_output_blocks_1_1_proj_out": (f"{UNET}output_blocks.1.1.proj_out.weight", None),
    }


def test_sdxl_base_text_encoders_and_unet_merge_as_the_formula_says():
    engine = _engine("sdxl-base")
    before = {key: value.clone() for key, value in engine.state_dict().items()}
    width = engine.conditioner.embedders[1].model.transformer.width
    tensors, updates = _random_lora(engine, _sdxl_layers(width))

    report = apply_loras(engine, [(tensors, 0.6)]).reports[0]

    assert (report.matched, report.unmatched) == (len(tensors) // 3, [])
    state = engine.state_dict()
    for key, value in before.items():
        expected = value + 0.6 * updates[key] if key in updates else value
        torch.testing.assert_close(state[key], expected, rtol=1e-6, atol=1e-6, msg=key)


@pytest.mark.parametrize("name", ["sdxl-base", "sd-2.1"])
def test_side_layers_give_the_merged_outputs_of_every_part(name):
    merged, side = _engine(name), _engine(name)
    base = _outputs(side)
    open_clip = side.conditioner.embedders[-1 if name == "sd-2.1" else 1].model.transformer
    layers = (
        _sdxl_layers(open_clip.width)
        if name == "sdxl-base"
        else {
            "lora_te_text_model_encoder_layers_0_self_attn_q_proj": (
                "conditioner.embedders.0.model.transformer.resblocks.0.attn.in_proj_weight",
                slice(0, open_clip.width),
            ),
            "lora_te_text_model_encoder_layers_1_self_attn_out_proj": (
                "conditioner.embedders.0.model.transformer.resblocks.1.attn.out_proj.weight",
                None,
            ),
            "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_v": (
                f"{UNET}input_blocks.3.1.transformer_blocks.0.attn1.to_v.weight",
                None,
            ),
            "lora_unet_up_blocks_0_resnets_1_conv2": (f"{UNET}output_blocks.1.0.out_layers.3.weight", None),
        }
    )
    tensors, _ = _random_lora(side, layers)
    apply_loras(merged, [(tensors, 1.0)])
    applied = apply_loras(side, [(tensors, 1.0)], mode="side")

    for mine, reference, original in zip(_outputs(side), _outputs(merged), base, strict=True):
        torch.testing.assert_close(mine, reference, rtol=1e-5, atol=1e-5)
        assert not torch.allclose(mine, original, rtol=1e-4, atol=1e-4)  # every part changed
    applied.remove()
    for now, original in zip(_outputs(side), base, strict=True):
        torch.testing.assert_close(now, original, rtol=0, atol=0)


def test_the_refiner_takes_sdxl_second_encoder_layers_and_reports_the_first_ones():
    base_lora, _ = _random_lora(_engine("sdxl-base"), _sdxl_layers(32))
    refiner = _engine("sdxl-refiner")
    width = refiner.conditioner.embedders[0].model.transformer.width
    assert width == 32  # the tiny OpenCLIP the SDXL layers above were made for
    before = {key: value.clone() for key, value in refiner.state_dict().items()}
    text_only = {key: value for key, value in base_lora.items() if key.startswith("lora_te")}

    report = apply_loras(refiner, [(text_only, 1.0)]).reports[0]

    assert report.unmatched == sorted(key for key in text_only if key.startswith("lora_te1_"))
    assert report.matched == 3
    changed = {key for key, value in refiner.state_dict().items() if not torch.equal(value, before[key])}
    assert changed == {
        "conditioner.embedders.0.model.transformer.resblocks.1.attn.in_proj_weight",
        "conditioner.embedders.0.model.transformer.resblocks.0.mlp.c_proj.weight",
    }
