import json

from safetensors import safe_open

from sgm.core.checkpoint import compare_layouts, match_models, rank_models, read_layout, write_sparse_safetensors
from sgm.core.checkpoint.layouts import prefix_group

# 2 GiB of fp16 data in two tensors, plus an integer buffer that keeps its dtype.
_BIG = {
    "model.diffusion_model.big.weight": [[32768, 16384], "float32"],
    "model.diffusion_model.big.bias": [[32768], "float32"],
    "cond.position_ids": [[1, 77], "int64"],
}


def test_sparse_file_has_a_valid_header_and_no_data_blocks(tmp_path):
    path = write_sparse_safetensors(tmp_path / "big.safetensors", _BIG, "float16")
    assert path.stat().st_size > 2**30
    assert path.stat().st_blocks * 512 < 1024 * 1024
    with safe_open(str(path), framework="pt") as file:
        assert sorted(file.keys()) == sorted(_BIG)
        assert file.get_slice("model.diffusion_model.big.weight").get_shape() == [32768, 16384]
        assert file.get_tensor("cond.position_ids").sum() == 0
    assert read_layout(path)["cond.position_ids"] == [[1, 77], "int64"]
    assert read_layout(path)["model.diffusion_model.big.bias"] == [[32768], "float16"]


def test_prefix_groups():
    assert prefix_group("first_stage_model.decoder.up.0.block.1.conv1.weight") == "first_stage_model.decoder.*"
    assert prefix_group("conditioner.embedders.1.model.ln_final.weight") == "conditioner.embedders.1.*"
    assert prefix_group("denoiser.sigmas") == "denoiser.sigmas"


def _tiny_layouts():
    base = {"model.diffusion_model.a.weight": [[4, 4], "float32"], "first_stage_model.decoder.w": [[3], "float32"]}
    wide = base | {"model.diffusion_model.a.weight": [[8, 4], "float32"]}
    extra = base | {"conditioner.embedders.0.model.w": [[2], "float32"], "denoiser.sigmas": [[1000], "float32"]}
    return {"base": base, "wide": wide, "extra": extra}


def test_match_models_on_tiny_layouts(tmp_path):
    layouts = _tiny_layouts()
    ldm_file = {k.replace("conditioner.embedders.0.", "cond_stage_model."): v for k, v in layouts["extra"].items()}
    ldm_file.pop("denoiser.sigmas")
    ldm_file["alphas_cumprod"] = [[1000], "float32"]
    path = write_sparse_safetensors(tmp_path / "ldm.safetensors", ldm_file)
    assert match_models(path, layouts) == ["extra"]
    ranked = rank_models(path, layouts)
    assert [m.name for m in ranked] == ["extra", "base", "wide"]
    assert ranked[1].diff.summary() == ["cond_stage_model.model.*: 1 unexpected"]
    assert ranked[2].diff.mismatched == [("model.diffusion_model.a.weight", [8, 4], [4, 4])]


def test_equal_layouts_list_the_model_named_like_the_file_first(tmp_path):
    layout = _tiny_layouts()["base"]
    path = write_sparse_safetensors(tmp_path / "v2-1_768-ema-pruned.safetensors", layout)
    layouts = {"sd-2.1": layout, "sd-2.1-768": layout, "sd-turbo": layout}
    file_names = {"sd-2.1": ("v2-1_512-ema-pruned.safetensors",), "sd-2.1-768": ("v2-1_768-ema-pruned.safetensors",)}
    assert match_models(path, layouts, file_names=file_names)[0] == "sd-2.1-768"


def test_official_sdxl_layout_fits_itself_with_benign_differences(tmp_path, shared_layouts):
    layout = json.loads((shared_layouts / "sd_xl_base.json").read_text())
    position_ids = "conditioner.embedders.0.transformer.text_model.embeddings.position_ids"
    without_buffers = {k: v for k, v in layout.items() if k not in (position_ids, "denoiser.sigmas")}
    path = write_sparse_safetensors(tmp_path / "sd_xl_base_1.0.safetensors", without_buffers)
    assert path.stat().st_size > 6 * 2**30 and path.stat().st_blocks * 512 < 4 * 2**20
    diff = compare_layouts(layout, read_layout(path))
    assert diff.fits and sorted(diff.absent_optional) == sorted([position_ids, "denoiser.sigmas"])
    refiner = json.loads((shared_layouts / "sd_xl_refiner.json").read_text())
    assert match_models(path, {"sdxl-base": layout, "sdxl-refiner": refiner}) == ["sdxl-base"]
