"""AUTOMATIC1111's `parameters` text: written in its format, read back (ours and other tools'), and the PNG keys
beside it."""

from pathlib import Path

import pytest
from PIL import Image

from sgm.pipelines.infotext import infotext, parse_infotext, request_fields, sampler_label, schedule_label
from sgm.pipelines.outputs import save_images

RECORDED = {"model": "sdxl-base", "prompt": "a fox, (red:1.2)", "negative_prompt": "blurry", "width": 1024,
            "height": 768, "sampler": "DPMPP2MSampler", "discretization": "KarrasDiscretization", "steps": 30,
            "guidance": 7.0, "seed": 42, "num": 1, "loras": ["style.safetensors:0.8", "detail.safetensors:-0.25"]}  # fmt: skip


def test_the_text_is_automatic1111s_format():
    assert infotext(RECORDED) == (
        "a fox, (red:1.2) <lora:style:0.8> <lora:detail:-0.25>\n"
        "Negative prompt: blurry\n"
        "Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.0, Seed: 42, Size: 1024x768, "
        "Model: sdxl-base"
    )
    img2img = {"model": "sd-2.1", "prompt": "", "sampler": "EulerEDMSampler", "discretization":
               "LegacyDDPMDiscretization", "steps": 4, "guidance": 5.0, "seed": 1, "width": 64, "height": 64,
               "strength": 0.5, "refiner": "a, b"}  # fmt: skip
    assert infotext(img2img) == ("Steps: 4, Sampler: Euler, CFG scale: 5.0, Seed: 1, Size: 64x64, Model: sd-2.1, "
                                 'Denoising strength: 0.5, Refiner: "a, b"')  # fmt: skip


@pytest.mark.parametrize(("name", "label"), [("DPMPP2MSampler", "DPM++ 2M"), ("dpm_2", "DPM2"), ("DPM2Sampler", "DPM2"),
                                             ("dpmpp_2m_sde_heun", "DPM++ 2M SDE Heun"), ("EulerAncestralSampler",
                                             "Euler a"), ("LinearMultistepSampler", "LMS")])  # fmt: skip
def test_sampler_labels(name, label):
    assert sampler_label(name) == label


def test_schedule_labels():
    assert [schedule_label(name) for name in ("KarrasDiscretization", "SGMUniformDiscretization",
                                              "LegacyDDPMDiscretization")] == ["Karras", "SGM Uniform", None]  # fmt: skip


def test_reading_gives_back_what_was_written():
    parsed = parse_infotext(infotext(RECORDED))
    assert parsed == {"Prompt": "a fox, (red:1.2) <lora:style:0.8> <lora:detail:-0.25>", "Negative prompt": "blurry",
                      "Steps": "30", "Sampler": "DPM++ 2M", "Schedule type": "Karras", "CFG scale": "7.0",
                      "Seed": "42", "Size": "1024x768", "Model": "sdxl-base"}  # fmt: skip
    assert request_fields(parsed) == {
        "prompt": "a fox, (red:1.2)", "negative_prompt": "blurry", "model": "sdxl-base", "steps": 30, "seed": 42,
        "cfg": 7.0, "sampler": "DPM++ 2M", "discretization": "Karras", "width": 1024, "height": 768,
        "loras": ((Path("style.safetensors"), 0.8), (Path("detail.safetensors"), -0.25)),
    }  # fmt: skip


def test_other_tools_texts_are_read():
    text = ('a castle\non a hill <lora:moody:0.6>\nNegative prompt: fog,\nrain\nSteps: 20, Sampler: DPM++ 2M Karras, '
            'CFG scale: 7, Seed: 965400086, Size: 512x768, Model hash: 45dee52b, Model: sd_xl_base_1.0, '
            'Lora hashes: "moody: 0123abcd", Version: v1.10.1')  # fmt: skip
    fields = request_fields(parse_infotext(text))
    assert fields["prompt"] == "a castle\non a hill" and fields["negative_prompt"] == "fog,\nrain"
    assert (fields["model"], fields["sampler"], fields["cfg"], fields["width"], fields["height"]) == (
        "sdxl-base", "DPM++ 2M Karras", 7.0, 512, 768)  # fmt: skip
    assert fields["loras"] == ((Path("moody.safetensors"), 0.6),)
    assert "model" not in request_fields(parse_infotext("a cat\nSteps: 5, Seed: 1, Model: someone_elses_mix"))
    assert parse_infotext("just a prompt\nwith: two, lines: here") == {
        "Prompt": "just a prompt\nwith: two, lines: here", "Negative prompt": ""}  # fewer than 3 pairs: prompt


def test_every_png_carries_our_keys_and_the_parameters_text(tmp_path):
    (path,) = save_images([Image.new("RGB", (8, 8))], tmp_path, RECORDED)
    text = Image.open(path).text
    assert text["parameters"] == infotext(RECORDED)
    assert (text["loras"], text["seed"], text["index"]) == ('["style.safetensors:0.8", "detail.safetensors:-0.25"]',
                                                            "42", "0")  # fmt: skip
