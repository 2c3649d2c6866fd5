"""A result's settings read back from its PNG, to repeat it (`sgm sample --from-png FILE`): our own PNG keys, or,
for a file that lacks them (made by AUTOMATIC1111, Forge, ...), AUTOMATIC1111's `parameters` text. The same
settings and seed give the same image."""

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from sgm.core.errors import SgmError
from sgm.core.lora import parse_lora_spec
from sgm.pipelines import catalog, infotext
from sgm.pipelines.request import Request, unused_fields

# Our PNG keys (`ImagePipeline.describe` and the runs' additions) and the Request field each gives.
_FIELDS = {"model": ("model", str), "prompt": ("prompt", str), "negative_prompt": ("negative_prompt", str),
           "sampler": ("sampler", str), "discretization": ("discretization", str), "steps": ("steps", int),
           "guidance": ("cfg", float), "seed": ("seed", int), "width": ("width", int), "height": ("height", int),
           "num": ("num", int), "strength": ("strength", float), "refiner": ("refiner", str),
           "refiner_strength": ("refiner_strength", float)}  # fmt: skip


def png_text(path: str | Path) -> dict[str, str]:
    """A PNG's text chunks; a file that is not a readable image is an SgmError."""
    try:
        with Image.open(path) as image:
            return dict(getattr(image, "text", {}))
    except FileNotFoundError:
        raise SgmError(f"--from-png: no such file: {path}") from None
    except (UnidentifiedImageError, OSError) as error:
        raise SgmError(f"--from-png: {path} is not a readable image ({error})") from None


def request_from_png(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Request:
    """The request that made the image at `path`, with `overrides` (the settings the user gives now) winning.
    Recorded values the final model takes no option for (a class model's size) are left out; an image made from
    another image needs that image again (`init_image`), an inpainted one its mask too."""
    text = png_text(path)
    if "model" in text and "seed" in text:
        recorded, made_with = _our_fields(text, path), text["model"]
    elif infotext.KEY in text:
        parameters = infotext.parse_infotext(text[infotext.KEY])
        recorded, made_with = infotext.request_fields(parameters), parameters.get("Model", "an unnamed model")
    else:
        raise SgmError(f"--from-png: {path} carries no generation parameters (neither sgm's PNG keys nor "
                       "AUTOMATIC1111's `parameters` text)")  # fmt: skip
    overrides = dict(overrides or {})
    fields = {**recorded, **overrides}
    if "model" not in fields:
        raise SgmError(f"--from-png: {path} was made with {made_with}, which sgm does not know: name one with --model")
    request = Request(**fields)
    defaults = {field.name: field.default for field in dataclasses.fields(Request)}
    unused = set(unused_fields(request, catalog.get_entry(request.model).task)) - set(overrides)
    request = request.replace(**{name: defaults[name] for name in unused})
    if request.strength is not None and request.init_image is None:
        raise SgmError(f"--from-png: {path} was made from an image (strength {request.strength:g}): give that image "
                       "with --init-image")  # fmt: skip
    if text.get("inpainted") == "True" and request.mask is None:
        raise SgmError(f"--from-png: {path} was inpainted: give the image with --init-image and the mask with --mask")
    return request


def _our_fields(text: dict[str, str], path: str | Path) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    try:
        for key, (field, read) in _FIELDS.items():
            if key in text:
                fields[field] = read(text[key])
        if "loras" in text:
            fields["loras"] = tuple(parse_lora_spec(spec) for spec in json.loads(text["loras"]))
        if "labels" in text:  # class-conditional models: one label per image
            fields["class_label"] = json.loads(text["labels"])[0]
    except (ValueError, IndexError, TypeError) as error:
        raise SgmError(f"--from-png: {path} has unreadable parameters ({error})") from None
    return fields
