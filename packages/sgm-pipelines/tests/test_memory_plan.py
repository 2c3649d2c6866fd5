"""The memory plan: planned peaks against the CPU allocator's records on tiny configs, the options chosen under
budgets, offloading's placements, tiled / chunked decoding against whole decoding, refusal before loading."""

import dataclasses
from types import MappingProxyType

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from omegaconf import OmegaConf

from sgm.core.errors import SgmError
from sgm.core.inference.kept_context import keep_context_projections
from sgm.pipelines import Request, build_pipeline, catalog, plan, run, running
from sgm.pipelines.memory_measurement import measured_activations, measured_peak
from sgm.pipelines.memory_tracking import LiveTensorBytes, device_kernels, tensor_bytes
from sgm.pipelines.offloading import HOME, Offloader
from sgm.pipelines.planning import GB, RuntimeSettings, probe_activations
from sgm.pipelines.stage_probes import ProbeShape, probe_parts
from sgm.pipelines.testing import FileResource, install_tiny_model, tiny_image_config
from sgm.pipelines.vae_tiling import VAE_TILE, tiled_vae_decoding
from sgm.video.testing import make_tiny_config

pytest.importorskip("sgm.conditioners.general", reason="the real encoders live in sgm-conditioners")

TINY = {
    "sdxl-base": (tiny_image_config, ProbeShape(64, 64, batch=2)),
    "sd-2.1": (tiny_image_config, ProbeShape(64, 64, img2img=True)),
    "svd": (make_tiny_config, ProbeShape(32, 16, frames=2, decoding_t=2)),
    "sv4d2": (make_tiny_config, ProbeShape(16, 16, frames=3, encoding_t=2, decoding_t=2)),
}


@pytest.mark.parametrize("name", TINY)
def test_tiny_plans_equal_the_measured_peaks_on_the_cpu(name):
    """Byte for byte: the plan's CPU kernels allocate what ATen's do (`cpu_kernels`)."""
    make, shape = TINY[name]
    config = make(name)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    planned = probe_activations(build_pipeline(config, name=name, device="meta"), shape, target="cpu")
    measured = measured_activations(build_pipeline(config, name=name, device="cpu"), shape)
    assert planned.keys() == measured.keys()
    for stage, (component, size) in planned.items():
        assert component == measured[stage][0]
        assert size == measured[stage][1], stage


def test_without_guidance_the_step_is_planned_for_one_batch():
    """cfg <= 1 samples without a guidance batch (IdentityGuider): the plan's step follows the request's cfg."""
    config = tiny_image_config("sdxl-base")
    torch.manual_seed(0)
    torch.set_num_threads(1)
    steps = {}
    for cfg in (None, 1.0):
        shape = ProbeShape(64, 64, batch=2, cfg=cfg)
        planned = probe_activations(build_pipeline(config, name="sdxl-base", device="meta"), shape, target="cpu")
        measured = measured_activations(build_pipeline(config, name="sdxl-base", device="cpu"), shape)
        assert planned["sampling step"] == measured["sampling step"]
        steps[cfg] = planned["sampling step"][1]
    assert steps[1.0] < steps[None]
    full_size = {cfg: plan(Request(model="sd-2.1", device="cpu", dtype="bf16", cfg=cfg)) for cfg in (None, 1.0)}
    step = {cfg: next(s for s in p.stages if s.name == "sampling step") for cfg, p in full_size.items()}
    assert step[1.0].activation_bytes < step[None].activation_bytes


def _frames(x):
    """`[(b t), c, h, w]` frames seen as `[b, c, t, h, w]` videos, as the video decoder's temporal layers see them."""
    return x.unflatten(0, (1, x.shape[0])).transpose(1, 2)


# One op each, as `t(*shape)` (a new tensor) makes its inputs: the kernels ATen picks for them on one and two threads.
CPU_OPS = {
    "3x3 convolution": lambda t: F.conv2d(t(1, 32, 48, 48), t(32, 32, 3, 3), t(32), padding=1),
    "1x1 convolution": lambda t: F.conv2d(t(1, 32, 48, 48), t(16, 32, 1, 1), t(16)),
    "small convolution": lambda t: F.conv2d(t(1, 8, 16, 16), t(8, 8, 3, 3), t(8), padding=1),
    "strided convolution": lambda t: F.conv2d(t(1, 32, 49, 49), t(32, 32, 3, 3), t(32), stride=2),
    "channels-last convolution": lambda t: F.conv2d(t(2, 32, 24, 24).contiguous(memory_format=torch.channels_last),
                                                    t(32, 32, 3, 3), t(32), padding=1),  # fmt: skip
    "time-only 3-D convolution of frames": lambda t: F.conv3d(_frames(t(8, 64, 48, 48)), t(64, 64, 3, 1, 1), t(64),
                                                              padding=(1, 0, 0)),  # fmt: skip
    "group norm of frames": lambda t: F.group_norm(_frames(t(4, 32, 16, 16)), 8, t(32), t(32)),
    "nearest upsampling": lambda t: F.interpolate(t(2, 32, 16, 16), scale_factor=2.0, mode="nearest"),
    "attention": lambda t: F.scaled_dot_product_attention(t(2, 2, 300, 32), t(2, 2, 300, 32), t(2, 2, 300, 32)),
}
# What the plan leaves out: oneDNN's scratchpad for its channels-last kernel (8 KiB, and 4 KiB per further thread).
UNMODELLED = {"channels-last convolution": 2**14}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("op", CPU_OPS)
def test_the_cpu_kernels_allocate_what_the_plan_models(op, threads):
    """One op's peak bytes: the plan's model of the CPU kernel on meta tensors, the allocator's records on real ones."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        tracker = LiveTensorBytes(host_is_device=True)
        with torch.no_grad(), device_kernels("cpu"), tracker:
            CPU_OPS[op](lambda *shape: torch.empty(shape, device="meta"))
        measured = measured_peak(lambda: CPU_OPS[op](lambda *shape: torch.randn(shape)))
        assert 0 <= measured - tracker.peak <= UNMODELLED.get(op, 0)
    finally:
        torch.set_num_threads(previous)


@pytest.fixture
def tiny_catalog(tmp_path, monkeypatch):
    """Puts tiny versions of catalog models in the catalog (no checkpoints: the plan needs none); returns their
    configs by name."""
    configs = {}

    def install(name, config):
        path = tmp_path / f"{name}.yaml"
        OmegaConf.save(config, path)
        entry = dataclasses.replace(catalog.get_entry(name), config=FileResource(str(path)))
        monkeypatch.setattr(catalog, "CATALOG", MappingProxyType(dict(catalog.CATALOG) | {name: entry}))
        configs[name] = config

    for name in ("sdxl-base", "sdxl-refiner"):
        install(name, tiny_image_config(name))
    for name in ("sv4d", "sv3d-u"):
        install(name, make_tiny_config(name))
    return configs


def cpu_pipeline(config, name, **options):
    """The config's pipeline on the CPU as a run has it, less the CPU's packed weights and channels-last layout
    (the plan models plain convolutions): keeping the context's keys and values across steps."""
    pipeline = build_pipeline(config, name=name, device="cpu", **options)
    keep_context_projections(pipeline.engine.model)
    return pipeline


@pytest.mark.parametrize("request_", [Request(model="sdxl-base", refiner="sdxl-refiner", width=64, height=64, num=2),
                                      Request(model="sv4d")], ids=["refiner", "reference-views"])  # fmt: skip
def test_a_run_of_two_models_plans_the_stages_of_both_as_measured(tiny_catalog, request_):
    """SDXL with its refiner: the base model's conditioning and steps, then the refiner's stages and its decode;
    SV4D: SV3D_u's orbit of the first frame first. Both models' weights stay on the device without offloading."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    chosen = plan(request_.replace(device="cpu"))
    configs = tiny_catalog
    if request_.refiner:
        base, other = cpu_pipeline(configs["sdxl-base"], "sdxl-base"), cpu_pipeline(configs["sdxl-refiner"],
                                                                                    "sdxl-refiner")  # fmt: skip
        parts = probe_parts(base, ProbeShape(64, 64, batch=2), refiner=other)
        expected = ["conditioning", "sampling step", "sdxl-refiner conditioning", "sdxl-refiner sampling step",
                    "sdxl-refiner vae decode"]  # fmt: skip
    else:
        other = cpu_pipeline(configs["sv3d-u"], "sv3d-u")
        base = cpu_pipeline(configs["sv4d"], "sv4d", reference_views=other)
        settings = chosen.settings
        parts = probe_parts(base, ProbeShape(16, 16, frames=3, encoding_t=settings.encoding_t,
                                             decoding_t=settings.decoding_t))  # fmt: skip
        expected = ["sv3d-u conditioning", "sv3d-u sampling step", "sv3d-u vae decode", "conditioning",
                    "sampling step", "vae decode"]  # fmt: skip
    measured = {}
    for pipeline, shape in parts:
        prefix = "" if pipeline is base else f"{pipeline.name} "
        measured |= {prefix + stage: size for stage, (_, size) in measured_activations(pipeline, shape).items()}
    assert [stage.name for stage in chosen.stages] == expected and measured.keys() == set(expected)
    weights = sum(tensor_bytes(pipeline.engine) for pipeline in (base, other))
    for stage in chosen.stages:
        assert stage.weights_bytes == weights
        assert stage.activation_bytes == measured[stage.name], stage.name


def test_the_fastest_fitting_options_are_chosen():
    request = Request(model="sd-2.1", dtype="bf16", device="cpu")
    free = plan(request)
    assert free.settings.offload == "none" and free.settings.vae_tiling is False and free.fits
    assert plan(request, budget_bytes=free.peak_bytes).settings == free.settings  # fits without: nothing changes
    tighter = plan(request, budget_bytes=free.peak_bytes - 1)
    assert tighter.fits and tighter.peak_bytes < free.peak_bytes and tighter.settings != free.settings
    streamed = plan(request.replace(offload="sequential"))
    model_peak = plan(request.replace(offload="model")).peak_bytes
    assert streamed.peak_bytes <= model_peak < free.peak_bytes
    assert not plan(request, budget_bytes=2**20).fits
    given = plan(request.replace(offload="model", vram=80))  # an explicit option is kept
    assert given.settings.offload == "model" and given.budget_bytes == 80 * GB


def test_video_plans_lower_decoding_t_before_offloading():
    request = Request(model="svd-xt", dtype="bf16", device="cpu")
    free = plan(request)
    assert free.settings.decoding_t == 14 and free.settings.offload == "none"
    chunked = plan(request, budget_bytes=free.peak_bytes - 1)
    assert chunked.settings.offload == "none" and chunked.settings.decoding_t < 14
    assert [s["name"] for s in chunked.as_json()["stages"]] == ["conditioning", "sampling step", "vae decode"]


def test_image_batches_decode_in_smaller_chunks_before_tiles_or_offloading():
    request = Request(model="sd-2.1", dtype="bf16", device="cpu", num=4)
    free = plan(request)
    assert free.settings.decoding_t is None and free.settings.vae_tiling is False  # the whole batch at once
    chunked = plan(request, budget_bytes=free.peak_bytes - 1)
    assert chunked.settings == RuntimeSettings(offload="none", split_guidance=False, vae_tiling=False, decoding_t=2)
    decode = {p.settings.decoding_t: next(s for s in p.stages if s.name == "vae decode") for p in (free, chunked)}
    assert decode[2].activation_bytes < decode[None].activation_bytes
    one = plan(request.replace(num=None), budget_bytes=free.peak_bytes - 1)
    assert one.settings.decoding_t is None  # a single image has no smaller chunk: tiles or offloading instead


@pytest.fixture
def tiny_sd(tmp_path, monkeypatch):
    entry = install_tiny_model("sd-2.1", tmp_path / "checkpoints", tmp_path, defaults={"width": 64, "height": 64,
                                                                                        "steps": 2})  # fmt: skip
    monkeypatch.setattr(catalog, "CATALOG", MappingProxyType(dict(catalog.CATALOG) | {"sd-2.1": entry}))
    monkeypatch.setenv(catalog.CHECKPOINT_DIR_ENV, str(tmp_path / "checkpoints"))
    return tmp_path


def test_an_impossible_budget_is_refused_before_loading(tiny_sd, monkeypatch):
    def no_loading(*args, **kwargs):
        raise AssertionError("loaded a model for a request that cannot fit")

    monkeypatch.setattr(running, "load_pipeline", no_loading)
    with pytest.raises(SgmError, match=r"needs [0-9.]+ GB .* more than the 0.00 GB available"):
        run(Request(model="sd-2.1", device="cpu", vram=1e-6, output=tiny_sd / "out"))


def test_a_batch_decoded_an_image_at_a_time_gives_the_same_pngs(tiny_sd):
    files = {count: run(Request(model="sd-2.1", device="cpu", num=2, seed=5, decoding_t=count, watermark=False,
                                output=tiny_sd / f"out-{count}"))
             for count in (None, 1)}  # fmt: skip
    whole, chunked = ([Image.open(path).tobytes() for path in files[count]] for count in (None, 1))
    assert len(whole) == 2 and whole == chunked


@pytest.mark.parametrize("mode", ["model", "sequential"])
def test_offloading_brings_each_component_to_the_device_for_its_stage_and_back(tiny_sd, monkeypatch, mode):
    pipeline = build_pipeline(tiny_image_config("sd-2.1"), name="sd-2.1", device="cpu")
    moves = []
    move = torch.nn.Module.to

    def recording_to(module, *args, **kwargs):
        moves.append((module, torch.device(args[0]) if args and isinstance(args[0], str | torch.device) else None))
        return move(module, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "to", recording_to)
    engine = pipeline.engine
    with Offloader(engine, "cpu", mode) as offloader:
        assert engine.device == torch.device("cpu")
        pipeline.txt2img("a fox", width=64, height=64, steps=1)
    order = list(dict.fromkeys(name for name, _ in offloader.placements))
    assert order == ["conditioner", "network", "first_stage"]
    assert all(device == torch.device("cpu") for _, device in offloader.placements)
    sent = [(m, d) for m, d in moves if d is not None]
    if mode == "model":
        assert (engine.conditioner, HOME) in sent and (engine.model, torch.device("cpu")) in sent
    else:
        blocks = list(engine.model.diffusion_model.input_blocks)
        assert sum(m is blocks[0] for m, _ in sent) >= 2  # in for its forward, out after it
    assert type(engine).__name__ == "DiffusionEngine"  # the execution-device stand-in is gone


def test_tiled_decoding_matches_whole_decoding_and_chunks_match_exactly():
    pipeline = build_pipeline(tiny_image_config("sd-2.1"), name="sd-2.1", device="cpu")
    engine = pipeline.engine
    torch.manual_seed(0)
    latents = torch.randn(2, 4, VAE_TILE + 16, VAE_TILE + 8)
    with torch.no_grad():
        whole = engine.decode_first_stage(latents)
        with tiled_vae_decoding(engine.first_stage_model):
            tiled = engine.decode_first_stage(latents)
        engine.en_and_decode_n_samples_a_time = 1
        chunked = engine.decode_first_stage(latents)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().mean() < 0.05 * whole.abs().mean()
    torch.testing.assert_close(chunked, whole)
    assert "decode" not in engine.first_stage_model.__dict__  # tiling ends with the block


def test_the_plan_builds_every_catalog_model_without_a_checkpoint():
    for name in ("digits", "sv3d-p"):
        result = plan(Request(model=name, device="cpu"))
        assert result.fits and result.peak_bytes > 0 or name == "digits"
        assert set(result.as_json()) >= {"model", "peak_bytes", "fits", "settings", "stages"}
