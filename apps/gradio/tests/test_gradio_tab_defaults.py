"""Each tab opens with its first model's catalog settings, before the user picks any model."""

import gradio as gr
from sgm_gradio.app import build_app
from sgm_gradio.runners import model_defaults
from sgm_gradio.tasks import DIGITS_MODELS, FOUR_D_MODELS, IMAGE_TO_VIDEO_MODELS, ORBIT_MODELS, TEXT_TO_IMAGE_MODELS


def _no_run(model, settings, hooks):
    raise AssertionError("nothing runs in this test")


def test_tabs_open_with_their_first_models_settings(tmp_path):
    first_models = [DIGITS_MODELS, TEXT_TO_IMAGE_MODELS, TEXT_TO_IMAGE_MODELS, IMAGE_TO_VIDEO_MODELS, ORBIT_MODELS,
                    FOUR_D_MODELS]  # fmt: skip
    runners = dict.fromkeys(["digits", "txt2img", "img2img", "img2vid", "orbit", "vid2_4d"], _no_run)
    # made-up settings that no control has as its built-in value: each seen only if the tab applied them
    defaults = {models[0]: {"steps": 3 + i, "guidance": 0.5 + i} for i, models in enumerate(first_models)}
    app = build_app(runners, lambda name: None, tmp_path, model_defaults=lambda name: defaults.get(name, {}))
    sliders = [block for block in app.blocks.values() if isinstance(block, gr.Slider)]
    steps = [s.value for s in sliders if s.label == "Steps"]
    guidance = [s.value for s in sliders if s.label.startswith("Guidance")]
    assert steps == [defaults[models[0]]["steps"] for models in first_models]
    # the digits and the two image tabs have a guidance control
    assert guidance == [defaults[models[0]]["guidance"] for models in first_models[:3]]


def test_the_catalog_settings_of_each_tabs_first_model_are_shown(tmp_path):
    runners = dict.fromkeys(["digits", "txt2img", "img2img", "img2vid", "orbit", "vid2_4d"], _no_run)
    app = build_app(runners, lambda name: None, tmp_path, model_defaults=model_defaults)
    sliders = [block for block in app.blocks.values() if isinstance(block, gr.Slider)]
    width = next(s.value for s in sliders if s.label == "Width")
    assert width == model_defaults(TEXT_TO_IMAGE_MODELS[0])["width"]
    frames = [s.value for s in sliders if s.label == "Frames"]
    assert frames == [model_defaults(models[0])["num_frames"] for models in (IMAGE_TO_VIDEO_MODELS, ORBIT_MODELS)]
