"""Weights that cannot be right are refused with their keys named, and the model keeps no half-loaded state."""

import pytest
import torch
from safetensors.torch import save_file

from sgm.core.checkpoint import empty_parameters, load_checkpoint_into
from sgm.core.errors import SgmError

from .conftest import TinyEngine


def _empty_model():
    with empty_parameters():
        return TinyEngine()


@pytest.mark.parametrize("dtype", [torch.int64, torch.int8, torch.uint8, torch.bool])
def test_integer_values_where_weights_belong_are_refused_before_reading(tmp_path, tiny_state_dict, dtype):
    key = "model.diffusion_model.0.weight"
    tiny_state_dict[key] = tiny_state_dict[key].round().to(dtype)
    save_file(tiny_state_dict, tmp_path / "ints.safetensors")
    model = _empty_model()
    with pytest.raises(SgmError, match=f"integer or boolean values where the model has weights \\({key}\\)"):
        load_checkpoint_into(model, tmp_path / "ints.safetensors")
    assert model.model.diffusion_model[0].weight.is_meta  # nothing assigned


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("dtype", [None, "fp16"])
def test_nan_or_infinite_values_are_refused_naming_the_keys(tmp_path, tiny_state_dict, bad, dtype):
    keys = ["first_stage_model.decoder.weight", "model.diffusion_model.2.bias"]
    for key in keys:
        tiny_state_dict[key].view(-1)[0] = bad
    save_file(tiny_state_dict, tmp_path / "nan.safetensors")
    for source in (tmp_path / "nan.safetensors", tiny_state_dict):
        model = _empty_model()
        with pytest.raises(SgmError, match="holds NaN or infinite values") as error:
            load_checkpoint_into(model, source, dtype=dtype)
        assert all(key in str(error.value) for key in keys)
        assert model.model.diffusion_model[0].weight.is_meta


def test_many_bad_keys_are_counted_not_all_listed(tiny_state_dict):
    for value in tiny_state_dict.values():
        value.fill_(float("nan"))
    with pytest.raises(SgmError, match=r"and \d+ more\)"):
        load_checkpoint_into(_empty_model(), tiny_state_dict)


def test_integer_buffers_of_the_model_stay_integers(tiny_state_dict):
    model = TinyEngine()
    model.register_buffer("steps", torch.arange(3))
    load_checkpoint_into(model, {**tiny_state_dict, "steps": torch.arange(3)})
    assert model.steps.dtype == torch.int64
