"""The SDXL base-to-refiner handoff, Turbo's substep schedule and NumPy noise, class-conditional sampling, and
the watermark on outputs."""

import contextlib

import numpy as np
import torch

from sgm.core.inference.kept_context import keep_context_projections

from sgm.pipelines import catalog
from sgm.core.diffusion.discretization import LegacyDDPMDiscretization, ddpm_alphas_cumprod
from sgm.core.nn.transformer import BasicTransformerBlock
from sgm.pipelines import ImagePipeline, Prompt, SamplerSettings, build_sampler, generation, txt2img_with_refiner
from sgm.pipelines.turbo import numpy_randn
from sgm.core.watermark import detect_watermark

TURBO = {"width": 16, "height": 16, "steps": 1, "cfg": 1.0, "sampler": "EulerAncestralSampler",
         "discretization": "TurboSubstepDiscretization", "noise": "numpy", "seed": 4, "progress": False}  # fmt: skip


def as_array(samples) -> np.ndarray:
    return np.stack([np.asarray(image) for image in samples])


def test_refiner_finishes_the_base_models_noisy_latents(text_pipeline, refiner_pipeline):
    calls = []
    samples = txt2img_with_refiner(
        text_pipeline, refiner_pipeline, "a fox", num_samples=2, seed=8, refiner_strength=0.5,
        callback=lambda stage, i, total: calls.append((stage, total)),
    )  # fmt: skip
    assert [image.size for image in samples] == [(16, 16)] * 2
    assert samples.parameters["refiner"] == "tiny-refiner" and samples.parameters["refiner_strength"] == 0.5
    # Of 4 steps (sigma_0 .. sigma_3, 0) the base runs 3, down to sigma_3, and the refiner the last, sigma_3 -> 0.
    assert sorted(set(calls)) == [("refining", 1), ("sampling", 3)]
    again = txt2img_with_refiner(text_pipeline, refiner_pipeline, "a fox", num_samples=2, seed=8, refiner_strength=0.5)
    assert np.array_equal(as_array(samples), as_array(again))


def test_sampling_projects_the_text_once_and_gives_the_same_latents(text_pipeline, monkeypatch):
    """The text's cross-attention keys and values are kept across the steps (`constant_context`): every step but
    the first reuses them, and the latents are exactly those of projecting the text anew at each step."""
    keep_context_projections(text_pipeline.engine.model)  # as optimize_for_inference does for a loaded model
    cross_attentions = [block.attn2 for block in text_pipeline.engine.model.modules()
                        if isinstance(block, BasicTransformerBlock)]  # fmt: skip
    calls = []
    hooks = [attn.to_k.register_forward_hook(lambda *_: calls.append(1)) for attn in cross_attentions]

    def latents():
        calls.clear()
        settings = text_pipeline.settings()
        return text_pipeline.sample_latents(Prompt("a fox"), width=16, height=16, num_samples=1, settings=settings,
                                            seed=5), settings.steps  # fmt: skip

    try:
        kept, steps = latents()
        assert cross_attentions and len(calls) == len(cross_attentions)
        monkeypatch.setattr(generation, "sampling_scope", lambda mode: contextlib.nullcontext())
        anew, _ = latents()
        assert len(calls) == steps * len(cross_attentions)  # CFG runs both halves in one call per step
    finally:
        for hook in hooks:
            hook.remove()
    assert torch.equal(kept, anew)


@torch.no_grad()
def test_refiner_continues_from_the_base_latents_without_new_noise(text_pipeline, refiner_pipeline):
    """sampling.py with "finish denoising": the refiner starts from z / sqrt(1 + sigma_0^2), z the base's output."""
    samples = txt2img_with_refiner(text_pipeline, refiner_pipeline, "a fox", seed=8, refiner_strength=0.5)
    noisy = text_pipeline.sample_latents(
        Prompt("a fox"), width=16, height=16, num_samples=1,
        settings=text_pipeline.settings(), seed=8, stop_at_strength=0.5,
    )  # fmt: skip
    finished = refiner_pipeline.resample_latents(
        Prompt("a fox"), strength=0.5,
        settings=refiner_pipeline.settings(), seed=8, latents=noisy, add_noise=False,
    )  # fmt: skip
    # Same seed, same draws: the base's own run and the handoff agree exactly.
    assert torch.equal(samples.latents, finished)


def test_turbo_schedule_visits_the_distillation_timesteps():
    """Timesteps 999, 899, 799, 699 of the 1000-step DDPM schedule, sigma_t = sqrt((1 - abar_t) / abar_t)."""
    alphas_cumprod = ddpm_alphas_cumprod(0.00085, 0.0120, 1000)
    for steps in range(1, 5):
        sampler = build_sampler(SamplerSettings(**{k: TURBO[k] for k in ("sampler", "discretization")}, steps=steps),
                                discrete_model=True)  # fmt: skip
        sigmas = sampler.discretization(steps)
        timesteps = [999, 899, 799, 699][:steps]
        expected = np.sqrt((1 - alphas_cumprod[timesteps]) / alphas_cumprod[timesteps])
        np.testing.assert_allclose(sigmas[:-1].numpy(), expected, rtol=1e-6)
        assert sigmas[-1] == 0 and len(sigmas) == steps + 1
    one_step = LegacyDDPMDiscretization()(1)
    assert torch.equal(build_sampler(SamplerSettings(**{k: TURBO[k] for k in ("sampler", "discretization")}, steps=1),
                                     discrete_model=True).discretization(1), one_step)  # fmt: skip


@torch.no_grad()
def test_one_turbo_step_is_the_denoised_numpy_noise(engines):
    """One Euler-ancestral step from sigma_999 to 0 without guidance lands on D(x_0, sigma_999), where x_0 is
    turbo.py's `RandomState(seed).randn` start scaled by sqrt(1 + sigma^2)."""
    pipeline = ImagePipeline(engines.text(), defaults=TURBO, watermark=False)
    samples = pipeline.txt2img("a fox", seed=4)
    sigma = LegacyDDPMDiscretization()(1000)[0]
    start = numpy_randn((1, 3, 8, 8), 4) * torch.sqrt(1.0 + sigma**2)
    cond, _ = pipeline.conditionings_for(Prompt("a fox"), 1,
                                      (16, 16))  # fmt: skip
    expected = pipeline.engine.denoiser(pipeline.engine.model, start, sigma[None], cond)
    assert (samples.latents - expected).abs().max() < 1e-5  # x + (0 - sigma) (x - D) / sigma = D, rounded
    four = [as_array(pipeline.txt2img("a fox", steps=4, seed=seed)) for seed in (4, 4, 5)]
    assert np.array_equal(four[0], four[1]) and not np.array_equal(four[0], four[2])


def test_class_labels_sample_one_image_each_and_guide_against_no_class(digits_pipeline):
    samples = digits_pipeline.sample_classes([0, 3, 3])
    assert [(image.size, image.mode) for image in samples] == [((12, 12), "L")] * 3
    assert samples.parameters["labels"] == [0, 3, 3] and samples.seed == 3
    cond, uncond = digits_pipeline.conditionings_for(Prompt(class_labels=[1, 2]), 2, (12, 12))
    assert torch.count_nonzero(cond["vector"]) > 0 and torch.count_nonzero(uncond["vector"]) == 0
    labels = [as_array(digits_pipeline.sample_classes([label])) for label in (1, 2)]
    assert not np.array_equal(*labels)


def test_legacy_unconditional_class_is_used_where_the_embedder_has_one(engines):
    pipeline = ImagePipeline(engines.digits(n_classes=11, legacy_ucg_val=10), defaults={"width": 12, "height": 12},
                             watermark=False)  # fmt: skip
    _, uncond = pipeline.conditionings_for(Prompt(class_labels=[1, 2]), 2, (12, 12))
    embedding = pipeline.engine.conditioner.embedders[0].embedding.weight[10]
    assert torch.equal(uncond["vector"], embedding.expand(2, -1))


def test_watermark_survives_the_pipeline_output(engines):
    engine = engines.text(factor=32, smooth=True)
    marked = ImagePipeline(engine, defaults={"steps": 2, "progress": False}).txt2img("a fox", width=256, height=256,
                                                                                     seed=1)  # fmt: skip
    plain = ImagePipeline(engine, defaults={"steps": 2, "progress": False}, watermark=False).txt2img(
        "a fox", width=256, height=256, seed=1
    )
    assert detect_watermark(marked[0]).present
    assert not detect_watermark(plain[0]).present
    difference = np.abs(as_array(marked).astype(int) - as_array(plain).astype(int))
    assert 0 < difference.mean() < 3  # invisible: a few levels per pixel


def test_small_and_grayscale_images_are_left_unmarked(digits_pipeline, engines):
    marked = ImagePipeline(digits_pipeline.engine, defaults=digits_pipeline.defaults).sample_classes([1])
    assert np.array_equal(as_array(marked), as_array(digits_pipeline.sample_classes([1])))


@torch.no_grad()
def test_two_turbo_steps_with_the_catalog_defaults_are_turbo_pys(engines):
    """turbo.py's loop by hand: x_0 = RandomState(seed).randn * sqrt(1 + s_0^2); step 1 goes to
    s_down = sqrt(s_1^2 - s_up^2), s_up = s_1 sqrt(s_0^2 - s_1^2) / s_0 (eta 1), and adds RandomState(seed + 1)
    noise times s_up; step 2 (s_1 -> 0) lands on D(x_1, s_1)."""
    defaults = catalog.get_entry("sdxl-turbo").defaults | {"width": 16, "height": 16, "progress": False}
    pipeline = ImagePipeline(engines.text(), defaults=defaults, watermark=False)
    samples = pipeline.txt2img("a fox", steps=2, seed=11)
    s0, s1 = LegacyDDPMDiscretization()(1000)[[0, 100]]
    cond, _ = pipeline.conditionings_for(Prompt("a fox"), 1, (16, 16))

    def denoised(x, sigma):
        return pipeline.engine.denoiser(pipeline.engine.model, x, sigma[None], cond)

    x0 = numpy_randn((1, 3, 8, 8), 11) * torch.sqrt(1.0 + s0**2)
    s_up = s1 * torch.sqrt(s0**2 - s1**2) / s0
    s_down = torch.sqrt(s1**2 - s_up**2)
    x1 = x0 + (x0 - denoised(x0, s0)) / s0 * (s_down - s0) + numpy_randn((1, 3, 8, 8), 12) * s_up
    assert (samples.latents - denoised(x1, s1)).abs().max() < 1e-4
    assert samples.parameters["discretization"] == "TurboSubstepDiscretization" and samples.seed == 11
