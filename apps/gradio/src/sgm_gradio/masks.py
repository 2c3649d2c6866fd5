"""The image-to-image tab's mask editor: the input image as the background, white strokes on its layer mark what to
repaint. What the editor sends becomes one black-and-white PNG, the file a `Request`'s `mask` names, as `sgm sample
--mask` takes it; with nothing painted the tab runs plain image to image."""

import hashlib
import io
from functools import reduce
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import ImageChops

WHITE = "#ffffff"


def mask_editor(label: str) -> gr.ImageEditor:
    """An editor that paints white only, with no crop or resize (the mask must keep the image's shape); the app
    receives the path of the mask file, or None when nothing is painted."""
    editor = gr.ImageEditor(
        label=label,
        type="pil",
        sources=(),
        transforms=(),
        brush=gr.Brush(colors=[WHITE], default_color=WHITE, color_mode="fixed"),
        layers=gr.LayerOptions(allow_additional_layers=False),
        elem_id="img2img-mask",
    )
    convert = editor.preprocess
    # Set on the instance: subclassing a gradio component makes gradio write a .pyi stub beside this file.
    editor.preprocess = lambda payload: saved_mask(convert(payload), Path(editor.GRADIO_CACHE) / "masks")
    return editor


def editor_background(image_path: str | None) -> dict[str, Any] | None:
    """The editor's value showing the uploaded image with an empty layer to paint on."""
    return None if not image_path else {"background": image_path, "layers": [], "composite": image_path}


def saved_mask(value: dict[str, Any] | None, folder: Path) -> str | None:
    """The editor's layers as one mask (a pixel is white where any layer is painted white; transparent is black)
    saved as PNG in `folder`, named by its content; None when no layer has a white pixel."""
    from sgm.pipelines.inpainting import load_mask

    layers = [] if value is None else value["layers"]
    if not layers:
        return None
    if len({layer.size for layer in layers}) > 1:
        raise gr.Error("The mask's layers differ in size: paint on one layer the size of the input image.")
    mask = reduce(ImageChops.lighter, [load_mask(layer) for layer in layers])
    if mask.getbbox() is None:
        return None
    data = io.BytesIO()
    mask.save(data, format="PNG")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"mask-{hashlib.sha256(data.getvalue()).hexdigest()[:12]}.png"
    path.write_bytes(data.getvalue())
    return str(path)
