"""The app's tabs: which models each offers, which controls it shows, which pipeline call it makes."""

from collections.abc import Mapping

import gradio as gr

from sgm_gradio import controls, masks
from sgm_gradio.tab import Runner, TabSpec

DIGITS_MODELS = ["digits"]
TEXT_TO_IMAGE_MODELS = ["sdxl-base", "sdxl-turbo", "sd-2.1", "sd-2.1-768", "sd-turbo"]
IMAGE_TO_VIDEO_MODELS = ["svd", "svd-xt", "svd-xt-1.1", "svd-image-decoder", "svd-xt-image-decoder"]
ORBIT_MODELS = ["sv3d-u", "sv3d-p"]
FOUR_D_MODELS = ["sv4d2", "sv4d2-8views", "sv4d"]


def _digits_controls() -> dict:
    return {
        "digit": gr.Dropdown([str(d) for d in range(10)], value="7", label="Digit"),
        "num_samples": gr.Slider(1, 16, value=8, step=1, label="Samples"),
        **controls.sampler_controls(steps=20, guidance=3.0),
    }


def _text_to_image_controls() -> dict:
    return {
        **controls.prompt_controls(),
        **controls.prompt_list_controls(),
        **controls.size_controls(),
        "num_samples": gr.Slider(1, 8, value=1, step=1, label="Samples"),
        **controls.sampler_controls(steps=40, guidance=5.0),
        **controls.refiner_controls(),
        **controls.lora_controls(),
    }


def _image_to_image_controls() -> dict:
    image = controls.image_upload("Input image", sources=["upload", "clipboard"], elem_id="img2img-image")
    with gr.Accordion("Inpainting mask (optional)", open=False):
        mask = masks.mask_editor("Paint white where to repaint; unpainted parts keep the input")
    image.change(masks.editor_background, image, mask, api_name=False, queue=False)
    return {
        "image": image,
        "mask": mask,
        **controls.prompt_controls(),
        **controls.prompt_list_controls(),
        "strength": gr.Slider(0.0, 1.0, value=0.75, step=0.01, label="Strength (how much to change)"),
        "num_samples": gr.Slider(1, 8, value=1, step=1, label="Samples"),
        **controls.sampler_controls(steps=40, guidance=5.0),
        **controls.refiner_controls(),
        **controls.lora_controls(),
    }


def _image_to_video_controls() -> dict:
    return {
        "image": controls.image_upload("Input image (1024x576 works best)", sources=["upload", "clipboard"]),
        **controls.video_controls(frames=14, steps=25),
    }


def _orbit_controls() -> dict:
    return {
        "image": controls.image_upload("Object image (square, plain background)", sources=["upload"]),
        **controls.video_controls(frames=controls.ORBIT_FRAMES, steps=50, with_motion=False),
        **controls.orbit_controls(),
    }


def _four_d_controls() -> dict:
    return {
        "video": gr.Video(label="Object video (plain background)", sources=["upload"]),
        "steps": gr.Slider(1, 100, value=50, step=1, label="Steps"),
        "elevation": gr.Slider(-10.0, 45.0, value=10.0, step=0.5, label="Camera elevation (degrees)"),
        "decoding_t": gr.Slider(1, 25, value=5, step=1, label="Frames decoded at once (less = less memory)"),
    }


def tab_specs(runners: Mapping[str, Runner]) -> list[TabSpec]:
    """Every tab, with `runners[key]` making its pipeline call."""
    return [
        TabSpec(
            "digits",
            "Digits",
            "The embedded class-conditional digits model: small, bundled with sgm, works on a CPU.",
            DIGITS_MODELS,
            _digits_controls,
            runners["digits"],
        ),
        TabSpec(
            "txt2img",
            "Text to image",
            "SDXL, SD 2.1 and the Turbo models (Turbo: 1-4 steps, guidance 1). Optionally finish with the SDXL refiner.",
            TEXT_TO_IMAGE_MODELS,
            _text_to_image_controls,
            runners["txt2img"],
        ),
        TabSpec(
            "img2img",
            "Image to image",
            "Repaint an image following a prompt; strength says how far the result may move from the input. "
            "Paint a mask to repaint only part of it (inpainting).",
            TEXT_TO_IMAGE_MODELS,
            _image_to_image_controls,
            runners["img2img"],
            uploads=("image", "mask"),
        ),
        TabSpec(
            "img2vid",
            "Image to video",
            "Stable Video Diffusion: a short clip that starts from your image.",
            IMAGE_TO_VIDEO_MODELS,
            _image_to_video_controls,
            runners["img2vid"],
            uploads=("image",),
            video=True,
        ),
        TabSpec(
            "orbit",
            "Image to orbit",
            "SV3D: views around the object in your image. SV3D_u orbits at a fixed elevation; SV3D_p follows the "
            "elevation and azimuth table.",
            ORBIT_MODELS,
            _orbit_controls,
            runners["orbit"],
            uploads=("image",),
            video=True,
        ),
        TabSpec(
            "vid2_4d",
            "Video to 4D",
            "SV4D / SV4D 2.0: novel views of every frame of an object video, shown as one video per view.",
            FOUR_D_MODELS,
            _four_d_controls,
            runners["vid2_4d"],
            uploads=("video",),
            video=True,
        ),
    ]
