"""apply_loras on tiny official-layout models: the plain merge formula per layer, side layers equal to merging,
changing and removing side layers, reports of keys that match nothing, and the errors."""

import pytest
import torch
from .conftest import HFClipText, OpenClipText, TinyEngine, inputs, merged, randomize
from safetensors.torch import save_file

from sgm.core.errors import SgmError
from sgm.core.lora import apply_loras

# Each way of naming a LoRA's layers, and the format it is reported as.
STYLES = {
    "kohya-official": "kohya",
    "kohya-diffusers": "kohya",
    "diffusers-peft": "diffusers-peft",
    "diffusers-old": "diffusers-old",
}


def _engine(unet: str = "sdxl", encoders=(HFClipText, OpenClipText), seed: int = 0) -> TinyEngine:
    return randomize(TinyEngine(unet, encoders), seed)


def _state(model) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in model.state_dict().items()}


def _assert_state(model, expected: dict[str, torch.Tensor]) -> None:
    state = model.state_dict()
    assert state.keys() == expected.keys()
    for key, value in expected.items():
        torch.testing.assert_close(state[key], value, rtol=1e-5, atol=1e-5, msg=key)


@pytest.mark.parametrize("style", list(STYLES))
@pytest.mark.parametrize("unet", ["sdxl", "sd21", "conv"])
def test_merge_adds_each_layers_own_alpha_over_rank_times_up_down(style, unet, make_lora, tmp_path):
    """Every matrix and kernel (LoCon convolutions, q/k/v rows of a fused in_proj) with its own rank and alpha."""
    engine = _engine(unet)
    before = _state(engine)
    tensors, expected = make_lora(engine, style)
    save_file(tensors, tmp_path / "lora.safetensors")

    applied = apply_loras(engine, [(tmp_path / "lora.safetensors", 0.7)])

    report = applied.reports[0]
    assert (report.format, report.unmatched, report.weight) == (STYLES[style], [], 0.7)
    assert report.matched == len(tensors) // 3
    assert any(value[0][1].ndim == 4 and value[0][1].shape[-1] == 3 for value in expected.values())  # LoCon 3x3
    assert any(value[0][0] is not None for value in expected.values())  # q/k/v rows of in_proj_weight
    _assert_state(engine, merged(before, expected, 0.7))


def test_several_loras_add_up_with_their_weights(make_lora):
    engine = _engine()
    before = _state(engine)
    (first, first_expected), (second, second_expected) = (
        make_lora(engine, "kohya-official", seed=3),
        make_lora(engine, "diffusers-peft", seed=4, only="transformer_blocks"),
    )
    apply_loras(engine, [(first, 0.5), (second, -1.25)])
    _assert_state(engine, merged(merged(before, first_expected, 0.5), second_expected, -1.25))


def _outputs(engine: TinyEngine) -> list[torch.Tensor]:
    """The engine's outputs, with autograd on: that keeps the UNet off its CPU channels-last path, which only plain
    convolutions take, so merged and side layers run the same kernels and can be compared bit for bit."""
    return [output.detach() for output in engine(**inputs(engine))]


def _assert_same(outputs: list[torch.Tensor], expected: list[torch.Tensor]) -> None:
    for output, reference in zip(outputs, expected, strict=True):
        torch.testing.assert_close(output, reference, rtol=0, atol=0)


def test_side_layers_give_the_merged_weights_and_outputs_and_can_change_per_request(make_lora):
    merged_engine, side_engine = _engine(), _engine()
    base = _outputs(side_engine)
    lora, _ = make_lora(merged_engine, "kohya-official")
    other, _ = make_lora(merged_engine, "diffusers-old", seed=5, only="attn")
    apply_loras(merged_engine, [(lora, 0.8), (other, 0.3)])

    applied = apply_loras(side_engine, [(lora, 0.8), (other, 0.3)], mode="side")

    for key, value in merged_engine.state_dict().items():  # the weights the layers see: the same fp32 sum, added once
        path, _, name = key.rpartition(".")
        assert torch.equal(getattr(side_engine.get_submodule(path), name), value), key
    _assert_same(_outputs(side_engine), _outputs(merged_engine))
    applied.set_weights([0.0, 0.0])
    _assert_same(_outputs(side_engine), base)
    applied.set_weights([1.0, -0.5])
    reference = _engine()
    apply_loras(reference, [(lora, 1.0), (other, -0.5)])
    _assert_same(_outputs(side_engine), _outputs(reference))
    assert applied.weights == [1.0, -0.5]


def test_remove_restores_the_model_and_its_official_keys(make_lora):
    engine = _engine()
    before = _state(engine)
    applied = apply_loras(engine, [(make_lora(engine, "kohya-diffusers")[0], 1.0)], mode="side")
    assert any(".parametrizations." in key for key in engine.state_dict())

    applied.remove()

    _assert_state(engine, before)
    apply_loras(engine, [(make_lora(engine, "kohya-diffusers")[0], 1.0)], mode="side")  # may be applied again


def test_side_layers_are_refused_twice_and_merged_ones_cannot_change(make_lora):
    engine = _engine()
    lora, _ = make_lora(engine, "kohya-official", only="attn1")
    apply_loras(engine, [(lora, 1.0)], mode="side")
    with pytest.raises(SgmError, match="already carries side LoRAs"):
        apply_loras(engine, [(lora, 1.0)], mode="side")
    merged_only = apply_loras(_engine(), [(lora, 1.0)])
    with pytest.raises(SgmError, match="mode='side'"):
        merged_only.set_weights([0.5])
    with pytest.raises(SgmError, match="mode='side'"):
        merged_only.remove()


def test_fp16_weights_get_the_fp32_sum_rounded_once(make_lora):
    engine = _engine().half()
    before = _state(engine)
    lora, expected = make_lora(engine, "kohya-official", only="diffusion_model")
    apply_loras(engine, [(lora, 0.9)])
    state = engine.state_dict()
    for key, value in merged(before, expected, 0.9).items():
        assert state[key].dtype == torch.float16
        torch.testing.assert_close(state[key], value, rtol=1e-3, atol=1e-3, msg=key)


def test_keys_that_match_nothing_are_reported_by_name(make_lora):
    unet_only = randomize(TinyEngine("sdxl", ()).model.diffusion_model)
    lora, _ = make_lora(_engine(), "kohya-official")  # with text-encoder layers the bare UNet lacks
    lora |= {
        "lora_unet_foo_bar.lora_down.weight": torch.ones(1, 4),
        "lora_unet_foo_bar.lora_up.weight": torch.ones(4, 1),
    }
    lora["lora_unet_input_blocks_1_0_in_layers_2.lora_mid.weight"] = torch.ones(1, 1, 3, 3)  # Tucker LoCon
    lora["some.other.tensor"] = torch.ones(2)

    report = apply_loras(unet_only, [(lora, 1.0)]).reports[0]

    text_keys = [key for key in lora if key.startswith("lora_te")]
    assert text_keys and set(text_keys) <= set(report.unmatched)
    assert {"lora_unet_foo_bar.lora_down.weight", "lora_unet_foo_bar.lora_up.weight", "some.other.tensor"} <= set(
        report.unmatched
    )
    assert {key for key in lora if key.startswith("lora_unet_input_blocks_1_0_in_layers_2.")} <= set(report.unmatched)
    assert report.matched == (len(lora) - len(report.unmatched)) // 3
    assert f"{len(report.unmatched)} keys matched nothing" in report.summary()


def test_a_layer_of_another_shape_is_an_error_naming_it():
    engine = _engine()
    name = "lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q"
    lora = {f"{name}.lora_down.weight": torch.ones(2, 48), f"{name}.lora_up.weight": torch.ones(64, 2)}
    key = r"model\.diffusion_model\.input_blocks\.4\.1\.transformer_blocks\.0\.attn1\.to_q\.weight"
    with pytest.raises(SgmError, match=rf"{name} changes {key} of shape \[64, 64\].* has shape \[64, 48\]"):
        apply_loras(engine, [(lora, 1.0)])


@pytest.mark.parametrize("weight", [float("nan"), "1", True])
def test_weights_must_be_finite_numbers(weight, make_lora):
    engine = _engine()
    with pytest.raises(SgmError, match="finite number"):
        apply_loras(engine, [(make_lora(engine, "kohya-official", only="attn1")[0], weight)])


def test_unknown_mode_is_refused():
    with pytest.raises(SgmError, match="'merge' or 'side'"):
        apply_loras(_engine(), [], mode="fuse")
