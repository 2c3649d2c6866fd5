"""Bad input as one clear SgmError, and `sgm sample`'s request path: sampling, PNGs with metadata, no overwrite."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sgm.core.errors import SgmError
from sgm.pipelines import SamplerSettings, load_pipeline
from sgm.pipelines.outputs import save_images
from sgm.pipelines.request import Request
from sgm.pipelines.running import sample_images


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ((22, 16), "width must be a positive multiple of 4 for this model, got 22"),
        ((16, 0), "height must be a positive multiple"),
        ((16, 17.0), "height must be a positive multiple of 4"),
    ],
)  # fmt: skip
def test_sizes_the_model_cannot_take_are_refused(text_pipeline, size, message):
    with pytest.raises(SgmError, match=message):
        text_pipeline.txt2img("a fox", width=size[0], height=size[1])


def test_unknown_sampler_and_discretization_suggest_the_nearest(text_pipeline):
    with pytest.raises(SgmError, match=r"unknown sampler 'Eulr': did you mean 'euler'"):
        text_pipeline.txt2img("a fox", sampler="Eulr")
    with pytest.raises(SgmError, match=r"unknown schedule 'Karas': did you mean 'karras'"):
        text_pipeline.txt2img("a fox", discretization="Karas")
    with pytest.raises(SgmError, match="unknown sampling option"):
        text_pipeline.txt2img("a fox", temperature=0.7)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"steps": 0}, "steps must be a positive whole number"), ({"guidance": -1.0}, "guidance scale must be a finite number, 0 or more"),
     ({"discretization": "TurboSubstepDiscretization", "steps": 5}, "Turbo models sample in 1 to 4 steps")],
)  # fmt: skip
def test_bad_sampler_settings_are_refused(options, message):
    with pytest.raises(SgmError, match=message):
        SamplerSettings(**options)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "7"])
def test_bad_seeds_and_counts_are_refused(text_pipeline, seed):
    with pytest.raises(SgmError, match="seed must be a whole number from 0 to 4294967295"):
        text_pipeline.txt2img("a fox", seed=seed)
    with pytest.raises(SgmError, match="number of samples must be a positive whole number"):
        text_pipeline.txt2img("a fox", num_samples=0)


def test_load_pipeline_names_a_missing_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("SGM_CHECKPOINT_DIR", str(tmp_path))
    with pytest.raises(SgmError, match="svd.safetensors not found"):
        load_pipeline("svd")
    with pytest.raises(SgmError, match="sd_xl_base_1.0.safetensors not found"):
        load_pipeline("sdxl-base")


def test_request_samples_and_saves_pngs_with_metadata_never_overwriting(text_pipeline, tmp_path):
    request = Request(model="tiny-text", output=tmp_path, prompt="a fox", num=2, seed=3, steps=2, cfg=4.0,
                      sampler="EulerEDMSampler")  # fmt: skip
    first, second = (save_images(samples, tmp_path, samples.parameters) for samples in (
        sample_images([text_pipeline], request), sample_images([text_pipeline], request)))
    assert [path.name for path in first + second] == ["000001.png", "000002.png", "000003.png", "000004.png"]
    with Image.open(first[1]) as image:
        assert image.size == (16, 16)
        assert {key: image.text[key] for key in ("model", "prompt", "seed", "sampler", "steps", "guidance")} == {
            "model": "tiny-text", "prompt": "a fox", "seed": "3", "sampler": "EulerEDMSampler", "steps": "2",
            "guidance": "4.0",
        }  # fmt: skip
        assert np.array_equal(np.asarray(image), np.asarray(Image.open(second[1])))


def test_request_with_init_image_and_class_label(text_pipeline, digits_pipeline, tmp_path):
    Image.fromarray(np.full((16, 24, 3), 120, np.uint8)).save(tmp_path / "init.png")
    request = Request(model="tiny-text", output=tmp_path, init_image=tmp_path / "init.png", strength=0.4)
    samples = sample_images([text_pipeline], request)
    assert samples[0].size == (24, 16) and samples.parameters["strength"] == 0.4
    digits = sample_images([digits_pipeline], Request(model="tiny-digits", output=tmp_path, class_label=7, num=2))
    assert digits.parameters["labels"] == [7, 7]


def test_a_failed_save_leaves_no_file(text_pipeline, tmp_path):
    samples = sample_images([text_pipeline], Request(model="tiny-text", output=tmp_path, steps=1))
    samples[0] = "not an image"
    with pytest.raises(TypeError):
        save_images(samples, tmp_path, {})
    assert list(Path(tmp_path).iterdir()) == []


@pytest.mark.parametrize(
    ("name", "sampler", "discretization"),
    [("euler", "EulerEDMSampler", "LegacyDDPMDiscretization"), ("DPM++ 2M Karras", "DPMPP2MSampler",
     "KarrasDiscretization"), ("Euler a", "EulerAncestralSampler", "LegacyDDPMDiscretization"),
     ("dpm_2", "DPM2Sampler", "LegacyDDPMDiscretization")],
)  # fmt: skip
def test_sampler_names_users_know_pick_the_sampler_and_its_schedule(text_pipeline, name, sampler, discretization):
    settings = text_pipeline.settings(sampler=name, steps=2)
    assert (settings.sampler, settings.discretization) == (sampler, discretization)
    samples = text_pipeline.txt2img("a fox", sampler=name, steps=2, seed=1)
    recorded = samples.parameters["sampler"]  # the class name, or the name where it brought more ("dpm_2")
    assert recorded == (name if name == "dpm_2" else sampler) and samples[0].size == (16, 16)
    assert text_pipeline.settings(sampler=recorded, discretization=discretization, steps=2) == settings
    explicit = text_pipeline.settings(sampler="DPM++ 2M Karras", discretization="sgm_uniform")
    assert explicit.discretization == "SGMUniformDiscretization"  # a schedule given on purpose wins


def test_guidance_must_be_finite(text_pipeline):
    with pytest.raises(SgmError, match="finite"):
        text_pipeline.txt2img("a fox", guidance=float("inf"))
