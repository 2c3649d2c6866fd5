import dataclasses
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from sgm.pipelines import catalog
from sgm.core.config import instantiate
from sgm.core.config.registry import config_registry

REFERENCE_TARGETS = config_registry().reference_targets
from sgm.core.errors import SgmError
from sgm.pipelines import SamplerSettings, build_sampler
from sgm.pipelines.testing import FileResource, tiny_image_config

SHARED_CONFIGS = Path(__file__).resolve().parents[4] / "shared" / "reference" / "configs" / "configs" / "inference"
DESIGN_NAMES = (
    "sd-2.1 sd-2.1-768 sdxl-base sdxl-refiner sdxl-turbo sd-turbo svd svd-xt svd-xt-1.1 svd-image-decoder "
    "svd-xt-image-decoder sv3d-u sv3d-p sv4d sv4d2 sv4d2-8views digits"
).split()
IMAGE_CONFIGS = {
    "sd-2.1": "sd_2_1",
    "sd-2.1-768": "sd_2_1_768",
    "sdxl-base": "sd_xl_base",
    "sdxl-refiner": "sd_xl_refiner",
}


def test_catalog_names_tasks_and_sources():
    assert list(catalog.CATALOG) == DESIGN_NAMES
    for entry in catalog.CATALOG.values():
        assert entry.task in catalog.TASKS
        assert all(file.endswith(".safetensors") for file in entry.files)
        if entry.bundled_weights is None:
            assert entry.source.startswith("https://huggingface.co/stabilityai/")
        video_keys = ("steps", "cfg", "min_cfg", "seed", "num_frames", "fps", "decoding_t")
        image_keys = ("steps", "sampler", "discretization", "cfg", "seed", "width", "height")
        for key in video_keys if entry.is_video else image_keys:
            assert key in entry.defaults, (entry.name, key)
        if not entry.is_video:
            assert entry.defaults["width"] % entry.size_multiple == 0
            assert entry.defaults["height"] % entry.size_multiple == 0
    assert catalog.CATALOG["sdxl-base"].file == "sd_xl_base_1.0.safetensors"
    assert catalog.CATALOG["sd-2.1"].file == "v2-1_512-ema-pruned.safetensors"
    assert catalog.CATALOG["sv4d2-8views"].file == "sv4d2_8views.safetensors"


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(SgmError, match="unknown model 'sdxl'.*sdxl-base"):
        catalog.get_entry("sdxl")


def test_missing_checkpoint_names_file_folder_and_source(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(catalog.CHECKPOINT_DIR_ENV, raising=False)
    with pytest.raises(SgmError) as error:
        catalog.find_checkpoint("sdxl-base")
    message = str(error.value)
    assert "sd_xl_base_1.0.safetensors" in message and str(tmp_path / "checkpoints") in message
    assert "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0" in message and "\n" not in message
    assert not (tmp_path / "checkpoints").exists()


def test_checkpoint_lookup_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(catalog.CHECKPOINT_DIR_ENV, raising=False)
    (tmp_path / "checkpoints").mkdir()
    local = tmp_path / "checkpoints" / "sd_xl_turbo_1.0.safetensors"  # the turbo model's second official name
    local.write_bytes(b"x")
    assert catalog.find_checkpoint("sdxl-turbo") == Path("checkpoints/sd_xl_turbo_1.0.safetensors")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "sd_xl_turbo_1.0_fp16.safetensors").write_bytes(b"x")
    monkeypatch.setenv(catalog.CHECKPOINT_DIR_ENV, str(elsewhere))
    assert catalog.find_checkpoint("sdxl-turbo") == elsewhere / "sd_xl_turbo_1.0_fp16.safetensors"
    assert catalog.find_checkpoint("sdxl-turbo", local) == local
    with pytest.raises(SgmError, match="checkpoint file not found: .*nothing.safetensors"):
        catalog.find_checkpoint("sdxl-turbo", tmp_path / "nothing.safetensors")


def test_config_resources_can_live_in_other_packages():
    assert "def " in catalog.Resource("sgm.kernels", "attention.py").open_text()
    with pytest.raises(SgmError, match="configs/models/none.yaml of package sgm.kernels is not installed"):
        catalog.Resource("sgm.kernels", "configs/models/none.yaml").open_text()
    assert catalog.CATALOG["svd"].config == catalog.Resource("sgm.video", "configs/models/svd.yaml")


@pytest.mark.parametrize("name", [*IMAGE_CONFIGS, "digits"])
def test_core_configs_name_only_allowed_targets_and_no_sampler(name):
    config = catalog.model_config(name)
    assert "sampler_config" not in config.params and "ckpt_path" not in config.params
    targets = []

    def collect(node):
        if isinstance(node, dict):
            targets.extend([node["target"]] if "target" in node else [])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(OmegaConf.to_container(config))
    assert targets and all(
        t.startswith(("sgm.core.", "sgm.conditioners.", "sgm.autoencoders.", "torch.nn.")) for t in targets
    )


def _with_our_targets(node):
    if isinstance(node, dict):
        return {k: REFERENCE_TARGETS.get(v, v) if k == "target" else _with_our_targets(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_with_our_targets(v) for v in node]
    return node


@pytest.mark.parametrize("name", IMAGE_CONFIGS)
def test_image_configs_are_the_reference_ones_with_our_class_paths(name):
    reference = SHARED_CONFIGS / f"{IMAGE_CONFIGS[name]}.yaml"
    if not reference.is_file():
        pytest.skip("the reference configs (../shared/reference/configs) are not present")
    expected = _with_our_targets(OmegaConf.to_container(OmegaConf.load(reference).model))
    assert OmegaConf.to_container(catalog.model_config(name)) == expected


def test_bundled_weights_missing_say_where_they_go(monkeypatch):
    absent = catalog.Resource("sgm.core", "configs/models/untrained.safetensors")
    entry = dataclasses.replace(catalog.CATALOG["digits"], bundled_weights=absent)
    monkeypatch.setattr(catalog, "get_entry", lambda name: entry)
    with pytest.raises(SgmError, match="train them with sgm-train.*configs/models/untrained.safetensors"):
        catalog.find_checkpoint("digits")


def _ddpm_sigmas(timesteps: list[int]) -> np.ndarray:
    """sigma_t = sqrt((1 - abar_t) / abar_t) of the SD schedule: beta_t = linspace(sqrt(8.5e-4), sqrt(1.2e-2))^2
    over 1000 steps, abar_t = prod_{s <= t} (1 - beta_s) (Ho et al. 2020; LDM's "scaled linear" schedule)."""
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=np.float64) ** 2
    alphas_cumprod = np.cumprod(1.0 - betas)[timesteps]
    return np.sqrt((1.0 - alphas_cumprod) / alphas_cumprod)


@pytest.mark.parametrize("name", ["sdxl-turbo", "sd-turbo"])
def test_turbo_defaults_are_turbo_py_substeps_numpy_noise_and_no_guidance(name):
    defaults = catalog.get_entry(name).defaults
    settings = SamplerSettings.from_options(defaults)
    assert (settings.sampler, settings.steps, settings.guided, settings.eta, settings.s_noise) == (
        "EulerAncestralSampler", 1, False, 1.0, 1.0)  # fmt: skip
    assert defaults["noise"] == "numpy" and (defaults["width"], defaults["height"], defaults["seed"]) == (512, 512, 0)
    for steps in range(1, 5):
        sampler = build_sampler(settings.replace(steps=steps), discrete_model=True)
        sigmas = sampler.discretization(steps).numpy()
        np.testing.assert_allclose(sigmas[:-1], _ddpm_sigmas([999, 899, 799, 699][:steps]), rtol=1e-6)
        assert sigmas[-1] == 0.0 and sigmas.dtype == np.float32
    with pytest.raises(SgmError, match="1 to 4 steps"):
        settings.replace(steps=5)


def test_only_sdxl_base_zeroes_the_unconditional_text_like_the_reference():
    """api.py / sampling.py pass force_uc_zero_embeddings=["txt"] for the models that are not "is_legacy"."""
    zeroed = {name: catalog.get_entry(name).defaults.get("force_uc_zero_embeddings", []) for name in IMAGE_CONFIGS}
    assert zeroed == {"sd-2.1": [], "sd-2.1-768": [], "sdxl-base": ["txt"], "sdxl-refiner": []}
    settings = SamplerSettings.from_options(catalog.get_entry("sdxl-base").defaults)
    assert (settings.sampler, settings.discretization, settings.steps, settings.guidance) == (
        "DPMPP2MSampler", "LegacyDDPMDiscretization", 50, 6.0)  # fmt: skip


@pytest.fixture
def tiny_sd21(tmp_path, monkeypatch):
    """The catalog's sd-2.1 entry pointing at its tiny config (real encoder, autoencoder and UNet)."""
    pytest.importorskip("sgm.conditioners.general", reason="sd-2.1's text encoder lives in sgm-conditioners")
    pytest.importorskip("sgm.autoencoders.engine", reason="sd-2.1's autoencoder lives in sgm-autoencoders")
    path = tmp_path / "sd-2.1.yaml"
    OmegaConf.save(tiny_image_config("sd-2.1"), path)
    entry = dataclasses.replace(catalog.CATALOG["sd-2.1"], config=FileResource(str(path)))
    monkeypatch.setattr(catalog, "CATALOG", MappingProxyType(dict(catalog.CATALOG) | {"sd-2.1": entry}))
    return entry


@torch.no_grad()
def test_build_model_allocates_parameters_and_keeps_computed_buffers(tiny_sd21):
    layout = catalog.build_model("sd-2.1", device="meta")
    assert all(tensor.is_meta for tensor in [*layout.parameters(), *layout.buffers()])
    lazy = catalog.build_model("sd-2.1", device=None)
    assert all(p.is_meta for p in lazy.parameters()) and not any(b.is_meta for b in lazy.buffers())
    model = catalog.build_model("sd-2.1", device="cpu")
    assert all(tensor.device.type == "cpu" for tensor in [*model.parameters(), *model.buffers()])
    # The DDPM schedule buffer is computed, not left undefined: sigma_t at t = 0 and 999.
    np.testing.assert_allclose(model.denoiser.sigmas[[0, -1]].numpy(), _ddpm_sigmas([0, 999]), rtol=1e-6)
    for key, buffer in lazy.named_buffers():
        assert torch.equal(model.get_buffer(key), buffer), key
    # Filled from a state dict, it computes what a normally built model with those weights computes.
    torch.manual_seed(0)
    reference = instantiate(catalog.model_config("sd-2.1"))
    model.load_state_dict(reference.state_dict())
    x, t, context = torch.randn(1, 4, 8, 8), torch.tensor([500]), torch.randn(1, 77, 32)
    unet, expected_unet = model.model.diffusion_model, reference.model.diffusion_model
    assert torch.equal(unet(x, timesteps=t, context=context), expected_unet(x, timesteps=t, context=context))
    assert torch.equal(model.conditioner({"txt": ["a fox"]})["crossattn"],
                       reference.conditioner({"txt": ["a fox"]})["crossattn"])  # fmt: skip
