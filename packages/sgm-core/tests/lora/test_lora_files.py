"""LoRA files: safetensors only, and describe_lora (what `sgm inspect` prints) from headers and layouts."""

import pytest
import torch
from safetensors.torch import save_file

from sgm.core.checkpoint import layout_of
from sgm.core.errors import SgmError
from sgm.core.lora import apply_loras, describe_lora, is_lora_file, parse_lora_spec, read_lora

from .conftest import HFClipText, OpenClipText, TinyEngine


@pytest.mark.parametrize("name", ["lora.ckpt", "lora.pt", "lora.bin"])
def test_only_safetensors_files_are_read(name, tmp_path):
    path = tmp_path / name
    torch.save({"lora_unet_a.lora_down.weight": torch.ones(1, 2)}, path)
    with pytest.raises(SgmError, match=r"\.safetensors only") as error:
        apply_loras(torch.nn.Linear(2, 2), [(path, 1.0)])
    assert "\n" not in str(error.value)


def test_missing_and_damaged_files_are_one_line_errors(tmp_path):
    with pytest.raises(SgmError, match="not found"):
        read_lora(tmp_path / "absent.safetensors", "absent.safetensors")
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(SgmError, match="not a safetensors"):
        read_lora(damaged, str(damaged))


def test_shapes_only_reads_no_tensor_data(tmp_path):
    path = tmp_path / "lora.safetensors"
    save_file(
        {
            "lora_unet_a.lora_down.weight": torch.ones(2, 8),
            "lora_unet_a.lora_up.weight": torch.ones(6, 2),
            "lora_unet_a.alpha": torch.tensor(1.0),
        },
        path,
    )
    (layer,) = read_lora(path, str(path), shapes_only=True).layers
    assert layer.down.is_meta and list(layer.up.shape) == [6, 2] and layer.rank == 2


@pytest.fixture
def layouts() -> dict[str, dict]:
    return {
        "xl-like": layout_of(TinyEngine("sdxl", (HFClipText, OpenClipText))),
        "refiner-like": layout_of(TinyEngine("sdxl", (OpenClipText,))),
        "sd21-like": layout_of(TinyEngine("sd21", (OpenClipText,))),
    }


def test_describe_names_the_format_and_the_models_a_file_fits(layouts, make_lora, tmp_path):
    tensors, _ = make_lora(TinyEngine("sdxl", (HFClipText, OpenClipText)), "kohya-official")
    tensors["lora_unet_x.lora_mid.weight"] = torch.ones(1)
    path = tmp_path / "lora.safetensors"
    save_file(tensors, path)

    description = describe_lora(path, layouts)

    layers = (len(tensors) - 1) // 3
    assert (description.format, description.layers, description.keys) == ("kohya", layers, len(tensors))
    assert description.models == ["xl-like", "refiner-like"]  # the refiner-like one lacks the first text encoder
    fits = {fit.model: fit for fit in description.candidates}
    assert fits["xl-like"].matched == layers and fits["refiner-like"].missing > 0
    assert not fits["sd21-like"].fits and fits["sd21-like"].mismatched  # same block names, other channel widths
    assert description.summary()[:3] == [
        f"{path}: a LoRA (kohya), {layers} layers in {len(tensors)} keys",
        f"fits xl-like: {layers} of {layers} layers match",
        f"fits refiner-like: {fits['refiner-like'].matched} of {layers} layers match",
    ]
    assert description.summary()[-1] == "1 keys no model can use (lora_unet_x.lora_mid.weight)"


def test_describe_says_when_a_file_fits_nothing(layouts, tmp_path):
    path = tmp_path / "lora.safetensors"
    save_file(
        {"lora_unet_nowhere.lora_down.weight": torch.ones(1, 2), "lora_unet_nowhere.lora_up.weight": torch.ones(2, 1)},
        path,
    )
    description = describe_lora(path, layouts)
    assert description.models == [] and description.summary()[-1] == "fits none of the models: no layer names match"


def test_describe_says_when_only_the_shapes_differ(layouts, tmp_path):
    path = tmp_path / "lora.safetensors"
    name = "lora_unet_input_blocks_4_1_proj_in"
    save_file({f"{name}.lora_down.weight": torch.ones(1, 7), f"{name}.lora_up.weight": torch.ones(7, 1)}, path)
    description = describe_lora(path, layouts)
    assert description.summary()[-1] == "fits none of the models: its layers have other shapes (made for another model)"


def test_is_lora_file_tells_a_lora_from_a_checkpoint(make_lora, tmp_path):
    lora, checkpoint = tmp_path / "lora.safetensors", tmp_path / "model.safetensors"
    engine = TinyEngine("sd21", (OpenClipText,))
    save_file(make_lora(engine, "diffusers-peft", only="attn1")[0], lora)
    save_file({key: value.contiguous() for key, value in engine.state_dict().items()}, checkpoint)
    assert is_lora_file(lora) and not is_lora_file(checkpoint)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("style.safetensors", ("style.safetensors", 1.0)),
        ("style.safetensors:0.8", ("style.safetensors", 0.8)),
        ("loras/a:b.safetensors:-1.5", ("loras/a:b.safetensors", -1.5)),
        (r"C:\loras\style.safetensors", (r"C:\loras\style.safetensors", 1.0)),
        (r"C:\loras\style.safetensors:2", (r"C:\loras\style.safetensors", 2.0)),
    ],
)
def test_lora_options_are_file_and_optional_weight(text, expected):
    path, weight = parse_lora_spec(text)
    assert (str(path), weight) == expected


@pytest.mark.parametrize("text", ["", ":0.5", "style.safetensors:nan", "style.safetensors:inf"])
def test_bad_lora_options_are_one_line_errors(text):
    with pytest.raises(SgmError, match="FILE"):
        parse_lora_spec(text)
