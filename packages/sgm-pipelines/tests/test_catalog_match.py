import json

import pytest

from sgm.pipelines import catalog
from sgm.core.checkpoint import compare_layouts, write_sparse_safetensors

LAYOUT_NAMES = sorted({entry.layout for entry in catalog.CATALOG.values()} - {"digits"})


@pytest.mark.parametrize("layout", LAYOUT_NAMES)
def test_catalog_layouts_are_the_official_ones(shared_layouts, layout):
    official = json.loads((shared_layouts / f"{layout}.json").read_text())
    entry = next(e for e in catalog.CATALOG.values() if e.layout == layout)
    diff = compare_layouts(catalog.expected_layout(entry.name), official)
    assert diff.fits, diff.summary()
    assert not diff.ignored and not diff.absent_optional


@pytest.mark.parametrize("layout", ["sd_xl_base", "sd_2_1_768", "sd_xl_refiner", "sampling-sv3d_p", "sampling-sv4d2"])
def test_match_models_on_full_size_official_files(tmp_path, shared_layouts, layout):
    official = json.loads((shared_layouts / f"{layout}.json").read_text())
    entry = next(e for e in catalog.CATALOG.values() if e.layout == layout)
    path = write_sparse_safetensors(tmp_path / entry.file, official, "float16")
    fits = catalog.matching_models(path)
    assert fits[0] == entry.name
    assert set(fits) == {e.name for e in catalog.CATALOG.values() if compare_layouts(
        catalog.expected_layout(e.name), official).fits}  # fmt: skip


def test_sd21_file_in_the_ldm_layout_is_recognised(tmp_path, shared_layouts):
    official = json.loads((shared_layouts / "sd_2_1.json").read_text())
    ldm = {k.replace("conditioner.embedders.0.", "cond_stage_model."): v for k, v in official.items()}
    del ldm["denoiser.sigmas"]
    ldm |= {name: [[1000], "float32"] for name in ("betas", "alphas_cumprod", "sqrt_recip_alphas_cumprod")}
    path = write_sparse_safetensors(tmp_path / "v2-1_512-ema-pruned.safetensors", ldm, "float16")
    assert catalog.matching_models(path) == ["sd-2.1", "sd-2.1-768", "sd-turbo"]
