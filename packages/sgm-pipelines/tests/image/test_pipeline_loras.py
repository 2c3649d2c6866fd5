"""LoRAs through `run(Request)` on the tiny sd-2.1 and sdxl-base (real encoders, UNet and autoencoder, found through the
catalog): checked before loading, side layers changed per request on the kept model, merged on request, the
network packed again once they are gone, and weights never changed while another run samples."""

import logging
import threading
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from sgm.core.checkpoint import read_layout
from sgm.core.errors import SgmError
from sgm.kernels import PackedLinear
from sgm.pipelines import PipelineCache, Request, catalog, check_request, run, running
from sgm.pipelines.testing import install_tiny_model, random_lora

pytest.importorskip("sgm.conditioners.general", reason="the real text encoders live in sgm-conditioners")


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("tiny")
    entries = {name: install_tiny_model(name, folder / "checkpoints", folder / "configs", defaults={"steps": 2})
               for name in ("sd-2.1", "sdxl-base")}  # fmt: skip
    return folder / "checkpoints", entries


@pytest.fixture
def workdir(tmp_path, monkeypatch, tiny_models) -> Path:
    """cwd with the tiny models in $SGM_CHECKPOINT_DIR and two LoRAs for sd-2.1 in ./loras."""
    checkpoints, entries = tiny_models
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(catalog.CHECKPOINT_DIR_ENV, str(checkpoints))
    monkeypatch.delenv("SGM_LORA_DIR", raising=False)
    monkeypatch.setattr(catalog, "CATALOG", MappingProxyType(dict(catalog.CATALOG) | entries))
    (tmp_path / "loras").mkdir()
    for name, seed in (("sd-2.1", 1), ("sdxl-base", 2)):
        shapes = _shapes(checkpoints / entries[name].file)
        save_file(random_lora(shapes, seed=seed), tmp_path / "loras" / f"{name}-style.safetensors")
    sd21 = _shapes(checkpoints / entries["sd-2.1"].file)
    unet_only = {key: shape for key, shape in sd21.items() if key.startswith("model.")}
    save_file(random_lora(unet_only, seed=3), tmp_path / "loras" / "detail.safetensors")
    return tmp_path


def _shapes(path: Path) -> dict[str, list[int]]:
    return {key: shape for key, (shape, _) in read_layout(path).items()}


def request(**fields) -> Request:
    return Request(**{"model": "sd-2.1", "prompt": "a red fox", "seed": 4, "width": 64, "height": 64,
                      "device": "cpu", "output": Path("out"), **fields})  # fmt: skip


def pixels(paths: list[Path]) -> np.ndarray:
    return np.stack([np.asarray(Image.open(path)) for path in paths])


def test_files_are_checked_before_anything_loads(workdir, monkeypatch, caplog):
    monkeypatch.setattr(running, "load_pipeline", lambda *args, **kwargs: pytest.fail("loaded"))
    cases = [
        ((("missing.safetensors", 1.0),), "LoRA file not found: missing.safetensors \\(nor in the LoRA folder"),
        ((("sd-2.1-style.safetensors", float("nan")),), "weight must be a finite number"),
        (((Path(catalog.find_checkpoint("sd-2.1")), 1.0),), "is not a LoRA"),
        ((("sdxl-base-style.safetensors", 1.0),), "sdxl-base-style.safetensors is not a LoRA for sd-2.1: .* have "
                                                  "other shapes"),
    ]  # fmt: skip
    for loras, message in cases:
        with pytest.raises(SgmError, match=message):
            run(request(loras=loras))
    with pytest.raises(SgmError, match="digits is a class2img model and takes no loras"):
        run(Request(loras=(("detail.safetensors", 1.0),)))
    stray = {f"lora_unet_nowhere.{part}": torch.ones(2, 2) for part in ("lora_down.weight", "lora_up.weight")}
    tensors = {**random_lora(_shapes(catalog.find_checkpoint("sd-2.1")), seed=5), **stray}
    save_file(tensors, workdir / "loras" / "stray.safetensors")
    with caplog.at_level(logging.WARNING, "sgm.pipelines"):
        checked = check_request(request(loras=(("stray.safetensors", 1),)))
    assert checked.loras == ((Path("loras/stray.safetensors"), 1.0),)
    (warning,) = [record.getMessage() for record in caplog.records]
    assert warning == ("stray.safetensors: 2 keys match nothing in sd-2.1 and are left out: "
                       "lora_unet_nowhere.lora_down.weight, lora_unet_nowhere.lora_up.weight")


def test_side_loras_change_per_request_without_reloading(workdir, monkeypatch):
    loads = []
    load = running.load_pipeline
    monkeypatch.setattr(running, "load_pipeline", lambda *args, **kwargs: loads.append(args) or load(*args, **kwargs))
    cache = PipelineCache()
    plain = run(request(), cache=cache)
    (pipeline,) = cache.loaded()
    unet = pipeline.engine.model.diffusion_model
    packed = sum(isinstance(module, PackedLinear) for module in unet.modules())
    style = (("sd-2.1-style.safetensors", 0.8),)
    first = run(request(loras=style), cache=cache)
    assert not any(isinstance(module, PackedLinear) for module in unet.modules())  # side layers on plain weights
    other = run(request(loras=(("sd-2.1-style.safetensors", 0.8), ("detail.safetensors", -0.5))), cache=cache)
    again = run(request(loras=style), cache=cache)
    without = run(request(), cache=cache)
    assert len(loads) == 1 and cache.loaded() == [pipeline]
    assert sum(isinstance(module, PackedLinear) for module in unet.modules()) == packed
    assert first[0].read_bytes() == again[0].read_bytes() and plain[0].read_bytes() == without[0].read_bytes()
    assert not np.array_equal(pixels(first), pixels(plain)) and not np.array_equal(pixels(first), pixels(other))
    assert Image.open(first[0]).text["loras"] == '["sd-2.1-style.safetensors:0.8"]'
    assert "loras" not in Image.open(plain[0]).text
    fresh = run(request(loras=style), cache=PipelineCache())
    assert fresh[0].read_bytes() == first[0].read_bytes()


def test_merged_loras_give_the_side_layers_numbers_and_reload_for_other_loras(workdir, monkeypatch):
    loads = []
    load = running.load_pipeline
    monkeypatch.setattr(running, "load_pipeline", lambda *args, **kwargs: loads.append(args) or load(*args, **kwargs))
    style = (("sdxl-base-style.safetensors", 0.7),)
    side = run(request(model="sdxl-base", loras=style))
    cache = PipelineCache()
    merged = run(request(model="sdxl-base", loras=style, lora_merge=True), cache=cache)
    run(request(model="sdxl-base", loras=style, lora_merge=True), cache=cache)
    assert len(loads) == 2  # the merged model is kept for the same LoRAs
    (pipeline,) = cache.loaded()
    assert any(isinstance(module, PackedLinear) for module in pipeline.engine.model.modules())  # packed again
    # oneDNN's packed GEMM and MKL's plain one round differently: close, not equal bytes
    assert np.abs(pixels(merged).astype(int) - pixels(side)).max() <= 2
    run(request(model="sdxl-base", loras=(("sdxl-base-style.safetensors", 0.2),), lora_merge=True), cache=cache)
    assert len(loads) == 3


def test_a_run_waits_to_change_the_loras_another_run_samples_with(workdir):
    cache = PipelineCache()
    style = (("sd-2.1-style.safetensors", 1.0),)
    alone = run(request(loras=style), cache=cache)
    sampling, resume, events = threading.Event(), threading.Event(), []

    def held(stage, i, total):
        events.append(("first", i))
        sampling.set()
        assert resume.wait(30)

    results = {}
    first = threading.Thread(target=lambda: results.update(first=run(request(loras=style), callback=held,
                                                                     cache=cache)))  # fmt: skip
    second = threading.Thread(target=lambda: results.update(second=run(
        request(loras=(("sd-2.1-style.safetensors", -1.0),)), callback=lambda *step: events.append(("second",)),
        cache=cache)))  # fmt: skip
    first.start()
    assert sampling.wait(30)
    second.start()
    second.join(1.0)
    assert second.is_alive() and ("second",) not in events  # waiting for the first run to finish
    resume.set()
    first.join(60)
    second.join(60)
    assert results["first"][0].read_bytes() == alone[0].read_bytes()
    assert events.index(("second",)) > max(i for i, event in enumerate(events) if event[0] == "first")
    assert not np.array_equal(pixels(results["second"]), pixels(alone))
