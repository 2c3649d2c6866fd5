"""Text to image on a tiny SDXL-shaped engine: sizes, seeds, the reference's draw order, every sampler and
schedule, guidance, micro-conditioning and the step callback."""

import numpy as np
import pytest
import torch

from sgm.core.diffusion.guiders import IdentityGuider, VanillaCFG
from sgm.pipelines import DISCRETIZATIONS, SAMPLERS, SamplerSettings, build_sampler
from sgm.pipelines.conditioning import Prompt, conditioning_batch


def as_array(samples) -> np.ndarray:
    return np.stack([np.asarray(image) for image in samples])


def test_images_have_the_requested_size_count_and_parameters(text_pipeline):
    samples = text_pipeline.txt2img("a red fox", width=24, height=16, num_samples=3, seed=5)
    assert [image.size for image in samples] == [(24, 16)] * 3
    assert all(image.mode == "RGB" for image in samples)
    assert samples.latents.shape == (3, 3, 8, 12)
    assert samples.parameters == {
        "model": "tiny-text", "prompt": "a red fox", "negative_prompt": "", "width": 24, "height": 16,
        "sampler": "DPMPP2MSampler", "discretization": "LegacyDDPMDiscretization", "steps": 4, "guidance": 5.0,
        "seed": 5, "num": 3,
    }  # fmt: skip


def test_same_seed_same_bytes_and_other_seeds_differ(text_pipeline):
    first = as_array(text_pipeline.txt2img("a red fox", seed=11, num_samples=2))
    again = as_array(text_pipeline.txt2img("a red fox", seed=11, num_samples=2))
    other = as_array(text_pipeline.txt2img("a red fox", seed=12, num_samples=2))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(first[0], first[1])  # one batch draws different noise per sample


def test_no_seed_draws_one_and_reports_it(text_pipeline):
    samples = text_pipeline.txt2img("a red fox", seed=None)
    assert samples.parameters["seed"] == samples.seed == 7  # the pipeline's default seed
    unseeded = type(text_pipeline)(text_pipeline.engine, defaults={"width": 16, "height": 16, "steps": 1},
                                   watermark=False)  # fmt: skip
    replay = unseeded.txt2img("a red fox", progress=False)
    assert np.array_equal(as_array(replay), as_array(unseeded.txt2img("a red fox", seed=replay.seed, progress=False)))


@torch.no_grad()
def test_draws_follow_the_reference_order(text_pipeline):
    """seed_everything, conditioner, torch.randn(latent shape) on the CPU, then the sampler (do_sample)."""
    engine = text_pipeline.engine
    samples = text_pipeline.txt2img("a red fox", negative_prompt="blurry", seed=21, num_samples=2)

    torch.manual_seed(21)
    batch, batch_uc = conditioning_batch(
        ["txt", "original_size_as_tuple", "crop_coords_top_left", "target_size_as_tuple"],
        Prompt("a red fox", "blurry"), 2, (16, 16),
    )  # fmt: skip
    cond, uncond = engine.conditioner.get_unconditional_conditioning(batch, batch_uc)
    sampler = build_sampler(SamplerSettings(steps=4, guidance=5.0, progress=False), discrete_model=True)
    start = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        expected = sampler(lambda x, s, c: engine.denoiser(engine.model, x, s, c), start, cond=cond, uc=uncond)
    assert torch.equal(samples.latents, expected)


@pytest.mark.parametrize("discretization", ["LegacyDDPMDiscretization", "EDMDiscretization"])
@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_every_sampler_and_schedule_samples(text_pipeline, sampler, discretization):
    samples = text_pipeline.txt2img("a red fox", sampler=sampler, discretization=discretization, steps=3)
    assert samples.parameters["sampler"] == sampler
    assert np.isfinite(samples.latents.numpy()).all()
    assert as_array(samples).std() > 0


def test_edm_schedule_uses_the_reference_sigma_range_for_discrete_models():
    settings = SamplerSettings(discretization="EDMDiscretization", steps=5)
    discrete = build_sampler(settings, discrete_model=True).discretization
    continuous = build_sampler(settings, discrete_model=False).discretization
    assert (discrete.sigma_min, discrete.sigma_max, discrete.rho) == (0.0292, 14.6146, 3.0)
    assert (continuous.sigma_min, continuous.sigma_max, continuous.rho) == (0.002, 80.0, 7.0)
    custom = build_sampler(settings.replace(sigma_max=10.0), discrete_model=True).discretization
    assert custom.sigma_max == 10.0 and custom.sigma_min == 0.0292


def test_guidance_at_most_one_means_no_guidance(text_pipeline):
    assert isinstance(build_sampler(SamplerSettings(guidance=0.0), discrete_model=True).guider, IdentityGuider)
    assert isinstance(build_sampler(SamplerSettings(guidance=1.0), discrete_model=True).guider, IdentityGuider)
    cfg = build_sampler(SamplerSettings(guidance=7.5), discrete_model=True).guider
    assert isinstance(cfg, VanillaCFG) and cfg.scale == 7.5
    # Without guidance the negative prompt cannot matter; with guidance it does.
    plain = [as_array(text_pipeline.txt2img("a fox", negative_prompt=n, guidance=1.0)) for n in ("", "blurry")]
    guided = [as_array(text_pipeline.txt2img("a fox", negative_prompt=n, guidance=5.0)) for n in ("", "blurry")]
    assert np.array_equal(*plain)
    assert not np.array_equal(*guided)


def test_sdxl_zeroes_the_empty_negative_prompt_unless_one_is_given(text_pipeline):
    """SDXL base samples against zero text embeddings (force_uc_zero_embeddings=["txt"]) for an empty negative
    prompt; a negative prompt given on purpose is embedded."""
    zeroing = type(text_pipeline)(text_pipeline.engine, defaults={**text_pipeline.defaults,
                                  "force_uc_zero_embeddings": ["txt"]}, watermark=False)  # fmt: skip
    _, uncond = zeroing.conditionings_for(Prompt("a fox", ""), 1, (16, 16))
    assert torch.count_nonzero(uncond["crossattn"]) == 0
    _, uncond = zeroing.conditionings_for(Prompt("a fox", "blurry"), 1, (16, 16))
    _, plain_uncond = text_pipeline.conditionings_for(Prompt("a fox", "blurry"), 1, (16, 16))
    assert torch.equal(uncond["crossattn"], plain_uncond["crossattn"])


def test_micro_conditioning_batch_holds_height_width_rows():
    prompt = Prompt("a", "b", original_size=(600, 800), crop_coords_top_left=(3, 4), aesthetic_score=7.0)
    keys = ["txt", "original_size_as_tuple", "crop_coords_top_left", "target_size_as_tuple", "aesthetic_score"]
    batch, batch_uc = conditioning_batch(keys, prompt, 2, (512, 768))
    assert batch["txt"] == ["a", "a"] and batch_uc["txt"] == ["b", "b"]
    assert batch["original_size_as_tuple"].tolist() == [[600, 800]] * 2
    assert batch["crop_coords_top_left"].tolist() == [[3, 4]] * 2
    assert batch["target_size_as_tuple"].tolist() == [[512, 768]] * 2
    assert batch["aesthetic_score"].tolist() == [[7.0]] * 2 and batch_uc["aesthetic_score"].tolist() == [[2.5]] * 2
    assert batch_uc["original_size_as_tuple"].tolist() == [[600, 800]] * 2


def test_micro_conditioning_changes_the_sample(text_pipeline):
    base = as_array(text_pipeline.txt2img("a fox"))
    cropped = as_array(text_pipeline.txt2img("a fox", crop_coords_top_left=(64, 0)))
    small = as_array(text_pipeline.txt2img("a fox", original_size=(256, 256)))
    assert not np.array_equal(base, cropped) and not np.array_equal(base, small)


def test_callback_sees_every_step_and_can_stop(text_pipeline):
    seen = []
    text_pipeline.txt2img("a fox", steps=3, callback=lambda stage, i, total: seen.append((stage, i, total)))
    assert seen == [("sampling", 0, 3), ("sampling", 1, 3), ("sampling", 2, 3), ("sampling", 3, 3)]

    class Stop(Exception):
        pass

    def stop_at_step_one(stage, i, total):
        if i == 1:
            raise Stop

    with pytest.raises(Stop):
        text_pipeline.txt2img("a fox", steps=3, callback=stop_at_step_one)


def test_progress_bar_can_be_turned_off(text_pipeline, capsys):
    assert build_sampler(SamplerSettings(progress=False), discrete_model=True).progress is False
    assert build_sampler(SamplerSettings(), discrete_model=True).progress is True
    text_pipeline.txt2img("a fox", progress=False)
    assert "Sampler" not in capsys.readouterr().err


def test_discretization_names_are_listed():
    assert DISCRETIZATIONS == ("LegacyDDPMDiscretization", "EDMDiscretization", "TurboSubstepDiscretization",
                               "KarrasDiscretization", "ExponentialDiscretization", "SGMUniformDiscretization",
                               "NormalDiscretization")  # fmt: skip
