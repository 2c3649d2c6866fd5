"""Full-size SD 2.1 through the function `sgm sample` calls: a sparse file in the official `ldm` layout (the
text encoder under `cond_stage_model.`, the old schedule buffers; zeros, a few KB on disk) found in ./checkpoints
under its official name, loaded into the meta-built model in fp16, sampled for 2 steps at 64x64 and saved.
Zero weights make the image meaningless; this checks the official file loads strictly and every stage runs at
full width."""

import json
from pathlib import Path

import pytest
from PIL import Image

from sgm.pipelines import catalog
from sgm.core.checkpoint import write_sparse_safetensors
from sgm.pipelines import Request, run

pytest.importorskip("sgm.conditioners.general", reason="SD 2.1's text encoder lives in sgm-conditioners")
pytest.importorskip("sgm.autoencoders.engine", reason="SD 2.1's autoencoder lives in sgm-autoencoders")
SHARED_LAYOUTS = Path(__file__).resolve().parents[5] / "shared" / "reference" / "layouts"  # beside the repository


def ldm_layout(layout: dict) -> dict:
    """The layout of the official v2-1_512-ema-pruned file: sgm's keys with the ldm names."""
    ldm = {key.replace("conditioner.embedders.0.", "cond_stage_model."): value for key, value in layout.items()}
    del ldm["denoiser.sigmas"]
    return ldm | {name: [[1000], "float32"] for name in ("betas", "alphas_cumprod", "sqrt_recip_alphas_cumprod")}


def test_full_size_sd21_official_file_samples_and_saves(tmp_path, monkeypatch):
    shared = SHARED_LAYOUTS / "sd_2_1.json"
    layout = json.loads(shared.read_text()) if shared.is_file() else catalog.expected_layout("sd-2.1")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(catalog.CHECKPOINT_DIR_ENV, raising=False)
    (tmp_path / "checkpoints").mkdir()
    write_sparse_safetensors(tmp_path / "checkpoints" / catalog.CATALOG["sd-2.1"].file, ldm_layout(layout), "float16")
    request = Request(model="sd-2.1", output=Path("outputs"), prompt="a lighthouse", steps=2, width=64, height=64,
                      device="cpu", dtype="fp16", watermark=False)
    (path,) = run(request)
    assert path.parent == Path("outputs") and path.suffix == ".png"
    with Image.open(path) as image:
        assert image.size == (64, 64) and image.text["steps"] == "2"
        # A zero decoder decodes every latent to 0, the middle of [-1, 1]: mid-grey (255 * 0.5 truncated, as the reference), so nothing was NaN or infinite.
        assert image.getextrema() == ((127, 127),) * 3
