"""Guidance-batch splitting: the network once per half of the guidance batch gives the joined call's samples
through the real samplers (image and video models), the plan measures its smaller sampling step (equal to the CPU
allocator's records), and the planner takes it when a budget needs it, before offloading."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from sgm.pipelines import PipelineCache, Request, build_pipeline, catalog, plan, run
from sgm.pipelines.memory_measurement import measured_activations
from sgm.pipelines.planning import candidate_settings, probe_activations
from sgm.pipelines.stage_probes import ProbeShape
from sgm.pipelines.testing import tiny_image_config
from sgm.video.testing import make_tiny_config

pytest.importorskip("sgm.conditioners.general", reason="the real encoders live in sgm-conditioners")

SCRATCH = 2**19  # the CPU kernels' scratch the plan does not model (tests/test_memory_plan.py)


def tiny_fp64_pipeline(name: str):
    """The tiny pipeline in fp64, with random values in its zero-initialised layers (every input reaches the output)."""
    config = make_tiny_config(name) if name.startswith("sv") else tiny_image_config(name)
    torch.manual_seed(0)
    pipeline = build_pipeline(config, name=name, device="cpu")
    with torch.no_grad():
        for parameter in pipeline.engine.model.parameters():
            if parameter.dim() > 1 and not parameter.any():
                parameter.normal_(std=0.1)
    pipeline.engine.double()
    return pipeline


def assert_split_equals_joined(pipeline, sample) -> None:
    """`sample()` with the guidance batch split and joined gives the same latents to fp64 rounding: no row of the
    batch mixes with another, but the CPU's matrix products of a few rows (the timestep embedding's) round
    differently at another batch size, so the two are not bit-equal (about 1e-14 relative)."""
    latents, rows = {}, {True: [], False: []}  # rows: the batch of each network call
    for split in rows:
        pipeline.split_guidance = split
        hook = pipeline.engine.model.register_forward_pre_hook(lambda _, args, calls=rows[split]: calls.append(
            len(args[0])))  # fmt: skip
        latents[split] = sample()
        hook.remove()
    assert rows[True] == [n // 2 for n in rows[False] for _ in range(2)]  # two calls of half the rows each
    torch.testing.assert_close(latents[True], latents[False], rtol=1e-10, atol=1e-10)


def decoded_latents(pipeline, generate):
    """`generate()` on a video pipeline, returning the latents it decodes (all passes') instead of its frames."""
    seen, decode = [], pipeline.decode

    def sample():
        seen.clear()
        generate()
        return torch.cat(seen)

    pipeline.decode = lambda latents, *args: (seen.append(latents.clone()), decode(latents, *args))[1]
    return sample


def test_an_image_models_split_samples_equal_the_joined_ones():
    pipeline = tiny_fp64_pipeline("sdxl-base")

    def sample(guidance=5.0):
        return pipeline.txt2img("a fox", width=64, height=64, steps=2, num_samples=2, seed=1, guidance=guidance).latents

    assert_split_equals_joined(pipeline, sample)
    assert (sample() - sample(guidance=1.0)).abs().max() > 1e-3  # the guidance reaches the samples


def test_svds_split_samples_equal_the_joined_ones(shared_input):
    pipeline = tiny_fp64_pipeline("svd")
    image = Image.open(shared_input("test_image.png"))
    assert_split_equals_joined(pipeline, decoded_latents(pipeline, lambda: pipeline.image_to_video(image, seed=5,
                                                                                                   steps=3)))


def test_sv4ds_split_passes_equal_the_joined_ones(shared_input):
    """SV4D's passes build their own denoisers, with more conditioning in the guidance batch (views, motion)."""
    pipeline = tiny_fp64_pipeline("sv4d2")
    video = str(shared_input("bee.gif"))
    assert_split_equals_joined(pipeline, decoded_latents(pipeline, lambda: pipeline.video_to_4d(video, seed=2,
                                                                                                steps=2)))


def test_run_calls_the_network_as_the_request_says(tmp_path):
    """The embedded digits model (guidance 3) through `run`: its pipeline takes the request's choice, same images."""
    cache, images = PipelineCache(), {}
    for split in (True, False):
        [path] = run(Request(num=1, seed=3, steps=4, split_guidance=split, output=tmp_path / str(split)), cache=cache)
        assert cache.loaded()[0].split_guidance is split
        images[split] = np.asarray(Image.open(path), dtype=np.int16)
    assert np.abs(images[True] - images[False]).max() <= 1  # 8-bit rounding of latents equal to fp32 rounding


@pytest.mark.parametrize(("name", "shape"), [("sdxl-base", ProbeShape(64, 64, batch=2)),
                                             ("svd", ProbeShape(32, 16, frames=2, decoding_t=2))])  # fmt: skip
def test_the_split_step_is_planned_smaller_and_as_measured(name, shape):
    config = make_tiny_config(name) if name.startswith("sv") else tiny_image_config(name)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    split = replace(shape, split_guidance=True)
    planned = {s: probe_activations(build_pipeline(config, name=name, device="meta"), s, target="cpu") for s in (shape, split)}
    measured = measured_activations(build_pipeline(config, name=name, device="cpu"), split)
    step = "sampling step"
    assert planned[split][step][1] < planned[shape][step][1]
    for stage, (component, size) in planned[split].items():
        assert component == measured[stage][0], stage
        assert abs(size - measured[stage][1]) <= SCRATCH, stage
        if stage != step:  # the split changes the sampling step alone (its guider's per-frame scales live on)
            assert abs(size - planned[shape][stage][1]) <= 2**10, stage


def test_a_budget_that_needs_the_split_gets_it_before_any_offloading():
    request = Request(model="svd-xt", dtype="bf16", device="cpu", width=512, height=256)  # smaller: quicker probes
    joined = plan(request.replace(offload="none", split_guidance=False, decoding_t=1))
    budget = joined.peak_bytes - 1  # the whole batch's step does not fit, whatever the decoder's chunks
    chosen = plan(request, budget_bytes=budget)
    assert chosen.fits and chosen.settings.offload == "none" and chosen.settings.split_guidance is True
    assert chosen.settings.decoding_t > 1  # only what the budget needs: the decoder keeps larger chunks
    entry = catalog.get_entry("svd-xt")
    assert {s.split_guidance for s in candidate_settings(entry, request.replace(split_guidance=False))} == {False}
    order = list(dict.fromkeys((s.offload, s.split_guidance) for s in candidate_settings(entry, request)))
    assert order == [(offload, split) for offload in ("none", "model", "sequential") for split in (False, True)]
