"""The tabs' checkpoint status finds an official file in the Hugging Face cache (offline), as the CLI does."""

from sgm.pipelines import catalog
from sgm.pipelines.testing import put_in_hf_cache
from sgm_gradio.runners import checkpoint_status


def test_a_checkpoint_in_the_hugging_face_cache_enables_its_model(tmp_path, monkeypatch):
    monkeypatch.setenv(catalog.CHECKPOINT_DIR_ENV, str(tmp_path / "empty"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert f"nor in the Hugging Face cache {tmp_path / 'hub'}" in checkpoint_status("sdxl-turbo")
    put_in_hf_cache(tmp_path / "hub", "stabilityai/sdxl-turbo", "sd_xl_turbo_1.0_fp16.safetensors", b"weights")
    assert checkpoint_status("sdxl-turbo") is None
