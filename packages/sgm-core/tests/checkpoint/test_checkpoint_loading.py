import pytest
import torch
from safetensors.torch import save_file

from sgm.core.checkpoint import empty_parameters, load_checkpoint_into
from sgm.core.errors import SgmError

from .conftest import TinyEngine


def _empty_model():
    with empty_parameters():
        return TinyEngine()


def test_round_trip_into_meta_parameters(tmp_path, tiny_state_dict):
    save_file(tiny_state_dict, tmp_path / "tiny.safetensors")
    model = _empty_model()
    assert model.model.diffusion_model[0].weight.is_meta and not model.denoiser.sigmas.is_meta
    report = load_checkpoint_into(model, tmp_path / "tiny.safetensors")
    assert report.loaded == len(tiny_state_dict) and report.diff.fits
    for key, value in model.state_dict().items():
        assert torch.equal(value, tiny_state_dict[key])
    assert model.mean.tolist() == [0.5, 0.25]  # computed at build time, not in the file


@pytest.mark.parametrize("dtype", ["fp16", "bf16", torch.float32])
def test_dtype_applies_to_parameters_not_buffers(tmp_path, tiny_state_dict, dtype):
    save_file(tiny_state_dict, tmp_path / "tiny.safetensors")
    model = _empty_model()
    load_checkpoint_into(model, tmp_path / "tiny.safetensors", dtype=dtype)
    expected = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(dtype, torch.float32)
    assert {p.dtype for p in model.parameters()} == {expected}
    assert model.denoiser.sigmas.dtype == torch.float32
    assert torch.equal(
        model.first_stage_model.decoder.weight, tiny_state_dict["first_stage_model.decoder.weight"].to(expected)
    )


def test_fp16_file_loads_as_model_dtype_by_default(tmp_path, tiny_state_dict):
    save_file({k: v.half() for k, v in tiny_state_dict.items()}, tmp_path / "half.safetensors")
    model = _empty_model()
    load_checkpoint_into(model, tmp_path / "half.safetensors")
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_state_dict_source_and_assign_without_copy(tiny_state_dict):
    model = _empty_model()
    load_checkpoint_into(model, tiny_state_dict)
    assert (
        model.model.diffusion_model[0].weight.data_ptr() == tiny_state_dict["model.diffusion_model.0.weight"].data_ptr()
    )


def test_strict_report_groups_missing_and_unexpected_by_prefix(tiny_state_dict):
    broken = {k: v for k, v in tiny_state_dict.items() if not k.startswith("first_stage_model.decoder.")}
    broken["model.extra.weight"] = torch.zeros(2)
    with pytest.raises(SgmError) as error:
        load_checkpoint_into(_empty_model(), broken)
    message = str(error.value)
    assert "first_stage_model.decoder.*: 2 missing" in message and "model.extra.*: 1 unexpected" in message
    assert "\n" not in message


def test_non_strict_load_into_a_real_model_keeps_missing_values(tiny_state_dict):
    model = TinyEngine()
    kept = model.first_stage_model.decoder.weight.detach().clone()
    partial = {k: v for k, v in tiny_state_dict.items() if not k.startswith("first_stage_model.decoder.")}
    report = load_checkpoint_into(model, partial, strict=False)
    assert sorted(report.diff.missing) == ["first_stage_model.decoder.bias", "first_stage_model.decoder.weight"]
    assert torch.equal(model.first_stage_model.decoder.weight, kept)
    assert "first_stage_model.decoder.*: 2 missing" in report.summary()


def test_non_strict_load_that_leaves_meta_parameters_fails_clearly(tiny_state_dict):
    partial = {k: v for k, v in tiny_state_dict.items() if not k.startswith("model.")}
    with pytest.raises(SgmError, match=r"model.diffusion_model.0.\*: 2 without values"):
        load_checkpoint_into(_empty_model(), partial, strict=False)


def test_shape_mismatch_is_an_error_even_when_not_strict(tiny_state_dict):
    tiny_state_dict["model.diffusion_model.0.weight"] = torch.zeros(8, 5)
    with pytest.raises(SgmError, match=r"shape \[8, 5\] in the file, \[8, 4\] in the model"):
        load_checkpoint_into(_empty_model(), tiny_state_dict, strict=False)


def test_all_meta_model_without_computed_buffers_names_the_fix(tiny_state_dict):
    model = _empty_model()
    model.register_buffer("mean", torch.empty(2, device="meta"), persistent=False)  # as torch.device("meta") makes
    with pytest.raises(SgmError, match="empty_parameters"):
        load_checkpoint_into(model, tiny_state_dict)


def test_ldm_layout_text_encoder_and_schedule_buffers(tiny_state_dict):
    ldm = {k.replace("conditioner.embedders.0.", "cond_stage_model."): v for k, v in tiny_state_dict.items()}
    ldm |= {"betas": torch.ones(5), "alphas_cumprod": torch.ones(5), "posterior_mean_coef1": torch.ones(5)}
    ldm |= {"model_ema.decay": torch.tensor(0.9999), "model_ema.diffusion_model0weight": torch.ones(8, 4)}
    model = _empty_model()
    report = load_checkpoint_into(model, ldm)
    assert torch.equal(
        model.conditioner.embedders[0].model.weight, tiny_state_dict["conditioner.embedders.0.model.weight"]
    )
    assert report.diff.renames["cond_stage_model.model.weight"] == "conditioner.embedders.0.model.weight"
    assert sorted(report.diff.ignored)[:2] == ["alphas_cumprod", "betas"] and len(report.diff.ignored) == 5


def test_optional_buffers_and_conditioning_vae_decoder(tiny_state_dict):
    del tiny_state_dict["denoiser.sigmas"]
    for key in ("conditioner.embedders.1.encoder.decoder.weight", "conditioner.embedders.1.encoder.decoder.bias"):
        del tiny_state_dict[key]
    tiny_state_dict["conditioner.embedders.0.transformer.text_model.embeddings.position_ids"] = torch.arange(77)[None]
    model = _empty_model()
    report = load_checkpoint_into(model, tiny_state_dict, dtype="fp16")
    assert report.diff.fits and len(report.diff.absent_optional) == 3
    assert report.diff.ignored == ["conditioner.embedders.0.transformer.text_model.embeddings.position_ids"]
    assert torch.equal(model.denoiser.sigmas, torch.linspace(0.1, 10.0, 5))
    decoder = model.conditioner.embedders[1].encoder.decoder.weight
    assert not decoder.is_meta and decoder.dtype == torch.float16 and not decoder.any()
