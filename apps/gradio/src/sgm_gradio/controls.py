"""The controls tabs share: prompts and prompt lists, sampler settings, image size, LoRAs, video options, and the SV3D
camera-orbit editor."""

import gradio as gr
from sgm.pipelines import SAMPLERS
from sgm.video.camera import orbit_azimuths

from sgm_gradio.prompt_lists import list_file_text

ORBIT_FRAMES = 21  # SV3D renders 21 views


def image_upload(label: str, **kwargs) -> gr.Image:
    """An image input that hands the app the uploaded file unopened, so the app's own checks (sgm_gradio.uploads)
    tell the user what is wrong with a file that is not a usable image (gr.Image would fail on it first)."""
    image = gr.Image(label=label, type="filepath", **kwargs)
    # Set on the instance: subclassing a gradio component makes gradio write a .pyi stub beside this file.
    image.preprocess = lambda payload: None if payload is None else payload.path
    return image


def sampler_controls(steps: int, guidance: float, sampler: str = "EulerEDMSampler") -> dict:
    with gr.Accordion("Sampler", open=False):
        return {
            "sampler": gr.Dropdown(list(SAMPLERS), value=sampler, label="Sampler"),
            "steps": gr.Slider(1, 150, value=steps, step=1, label="Steps"),
            "guidance": gr.Slider(0.0, 20.0, value=guidance, step=0.1, label="Guidance scale (1 = no guidance)"),
        }


def prompt_controls() -> dict:
    return {
        "prompt": gr.Textbox(label="Prompt", lines=2, placeholder="a lighthouse at dusk, oil painting"),
        "negative_prompt": gr.Textbox(label="Negative prompt", lines=1),
    }


def prompt_list_controls() -> dict:
    """A list box for many generations in one run (a line each, as `sgm sample --prompts`), and a button that loads
    a .txt / .jsonl file into it."""
    with gr.Accordion("Prompt list (instead of the prompt)", open=False):
        text = gr.Textbox(
            label="Prompt list",
            info="One generation per line: a prompt, or a JSON object with `prompt` and that line's options (seed, "
            "width, height, negative_prompt, steps, ...). The n-th prompt's seed is Seed + n - 1 unless it sets one; "
            "the other controls are every line's defaults.",
            lines=4,
            max_lines=20,
            placeholder='a red fox in snow\n{"prompt": "a lighthouse", "seed": 7, "negative_prompt": "fog"}',
        )
        load = gr.UploadButton("Load a .txt or .jsonl file", file_types=[".txt", ".jsonl"], size="sm")
        load.upload(list_file_text, load, text, api_name=False, queue=False)
    return {"prompt_list": text}


def size_controls(width: int = 1024, height: int = 1024) -> dict:
    with gr.Row():
        return {
            "width": gr.Slider(256, 2048, value=width, step=64, label="Width"),
            "height": gr.Slider(256, 2048, value=height, step=64, label="Height"),
        }


def refiner_controls() -> dict:
    with gr.Accordion("Refiner (SDXL)", open=False):
        return {
            "refiner": gr.Checkbox(False, label="Finish with sdxl-refiner"),
            "refiner_strength": gr.Slider(0.0, 1.0, value=0.15, step=0.01, label="Refiner strength"),
        }


def lora_controls() -> dict:
    """Every LoRA file of the LoRA folder (`$SGM_LORA_DIR`, else ./loras) with a weight; 0 leaves it out. The
    button reads the folder again, keeping the weights set."""
    from sgm.pipelines.loras import lora_dir

    with gr.Accordion("LoRAs", open=False):
        table = gr.Dataframe(
            value=lora_rows(),
            headers=["LoRA file", "weight"],
            datatype=["str", "number"],
            column_count=(2, "fixed"),
            label=f"LoRA files in {lora_dir().resolve()} (weight 0 = off)",
            type="array",
            interactive=True,
        )
        rescan = gr.Button("Read the LoRA folder again", size="sm")
        rescan.click(lora_rows, table, table, api_name=False, queue=False)
    return {"loras": table}


def lora_rows(current: list[list] | None = None) -> list[list]:
    """A row `[file name, weight]` per LoRA file in the folder, with the weight of `current`'s row for it (else 0)."""
    from sgm.pipelines.loras import lora_files

    weights = {str(row[0]): row[1] for row in current or [] if row and row[0]}
    return [[name, weights.get(name, 0.0)] for name in lora_files()] or [["", 0.0]]


def video_controls(frames: int, steps: int, with_motion: bool = True) -> dict:
    """Frame count, steps, conditioning noise and the decoder chunk; SVD also takes frame rate and motion amount."""
    controls = {}
    with gr.Accordion("Video options", open=True):
        with gr.Row():
            controls["num_frames"] = gr.Slider(1, 25, value=frames, step=1, label="Frames")
            controls["steps"] = gr.Slider(1, 100, value=steps, step=1, label="Steps")
        if with_motion:
            with gr.Row():
                controls["fps"] = gr.Slider(1, 30, value=7, step=1, label="Frame rate (conditioned on and written at)")
                controls["motion_bucket_id"] = gr.Slider(0, 1023, value=127, step=1, label="Motion amount")
        with gr.Row():
            controls["cond_aug"] = gr.Slider(0.0, 0.5, value=0.02, step=0.01, label="Conditioning noise")
            controls["decoding_t"] = gr.Slider(
                1, 25, value=14, step=1, label="Frames decoded at once (less = less memory)"
            )
    return controls


def orbit_controls() -> dict:
    """An elevation for the whole orbit plus one row per view; SV3D_p follows the table, SV3D_u only orbits."""
    with gr.Accordion("Camera orbit (SV3D_p)", open=True):
        elevation = gr.Slider(-10.0, 45.0, value=10.0, step=0.5, label="Elevation (degrees)")
        table = gr.Dataframe(
            value=even_orbit(10.0),
            headers=["elevation", "azimuth"],
            datatype=["number", "number"],
            row_count=ORBIT_FRAMES,
            column_count=(2, "fixed"),
            label="Per-view elevation and azimuth (degrees)",
            type="array",
            interactive=True,
        )
        even = gr.Button("Even orbit at this elevation", size="sm")
        even.click(even_orbit, elevation, table, api_name=False, queue=False)
    return {"elevation": elevation, "orbit": table}


def even_orbit(elevation: float, views: int = ORBIT_FRAMES) -> list[list[float]]:
    """SV3D's default orbit (views evenly spaced, the last at the input view) at one elevation, as table rows."""
    return [[float(elevation), round(azimuth, 3)] for azimuth in orbit_azimuths(views)]
