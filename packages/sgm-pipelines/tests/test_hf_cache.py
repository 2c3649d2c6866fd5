"""Checkpoints found in the Hugging Face cache, offline: a fake cache laid out as huggingface_hub lays it out."""

from pathlib import Path

import pytest

from sgm.core.errors import SgmError
from sgm.pipelines import catalog
from sgm.pipelines.hf_cache import repo_id
from sgm.pipelines.testing import put_in_hf_cache


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """An empty working directory without ./checkpoints, and an empty Hugging Face cache in HF_HUB_CACHE."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(catalog.CHECKPOINT_DIR_ENV, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hub"


def test_repo_ids_come_from_the_registered_sources():
    assert repo_id(catalog.CATALOG["sdxl-base"].source) == "stabilityai/stable-diffusion-xl-base-1.0"
    assert repo_id(catalog.CATALOG["svd-xt"].source) == "stabilityai/stable-video-diffusion-img2vid-xt"
    assert repo_id(catalog.CATALOG["digits"].source) is None
    assert repo_id("https://huggingface.co/") is None


def test_an_official_file_in_the_cache_is_found_after_the_checkpoint_folder(hf_cache, tmp_path):
    assert catalog.local_checkpoint("sdxl-turbo") is None
    cached = put_in_hf_cache(hf_cache, "stabilityai/sdxl-turbo", "sd_xl_turbo_1.0.safetensors", b"weights")
    assert catalog.local_checkpoint("sdxl-turbo") == cached
    assert catalog.find_checkpoint("sdxl-turbo").read_bytes() == b"weights"
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "sd_xl_turbo_1.0_fp16.safetensors").write_bytes(b"mine")
    assert catalog.find_checkpoint("sdxl-turbo") == Path("checkpoints/sd_xl_turbo_1.0_fp16.safetensors")


def test_only_the_models_own_repo_and_files_count(hf_cache):
    put_in_hf_cache(hf_cache, "someone/else", "sd_xl_base_1.0.safetensors", b"x")
    put_in_hf_cache(hf_cache, "stabilityai/stable-diffusion-xl-base-1.0", "sd_xl_base_0.9.safetensors", b"x")
    no_exist = hf_cache / "models--stabilityai--stable-diffusion-xl-base-1.0" / ".no_exist" / ("0" * 40)
    no_exist.mkdir(parents=True)
    (no_exist / "sd_xl_base_1.0.safetensors").write_bytes(b"")  # the cache's note that the repo lacks the file
    with pytest.raises(SgmError) as error:
        catalog.find_checkpoint("sdxl-base")
    assert f"nor in the Hugging Face cache {hf_cache}" in str(error.value)
