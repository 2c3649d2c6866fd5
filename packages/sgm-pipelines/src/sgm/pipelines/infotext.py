"""AUTOMATIC1111's `parameters` PNG text (its "infotext"), which other tools read: AUTOMATIC1111's and Forge's PNG
Info, image hosts, ComfyUI's and InvokeAI's importers. Written beside our own keys on every PNG; read back by
`sgm sample --from-png` when a file carries only this.

The format, as AUTOMATIC1111 writes it (modules/processing.py, `create_infotext`) and reads it
(modules/infotext_utils.py, `parse_generation_parameters`): the prompt (any number of lines), then a line starting
`Negative prompt: ` when there is one, then one line of `Key: value` pairs joined by ", " (`Steps: 30, Sampler:
DPM++ 2M, Schedule type: Karras, CFG scale: 7.0, Seed: 42, Size: 1024x1024, Model: ...`); a value holding ",", ":"
or a line break is written as a JSON string. LoRAs are written into the prompt, as AUTOMATIC1111's users type
them: `<lora:NAME:WEIGHT>`, NAME the file name without `.safetensors`.
"""

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sgm.core.diffusion.sampler_names import SAMPLERS, SCHEDULES, resolve_sampler
from sgm.core.errors import SgmError
from sgm.core.lora import parse_lora_spec
from sgm.pipelines import catalog

KEY = "parameters"
NEGATIVE = "Negative prompt:"
LORA_TAG = re.compile(r"<lora:([^:>]+)(?::([^:>]+))?(?::[^>]*)?>")
MIN_PAIRS = 3  # a last line with fewer `Key: value` pairs is part of the prompt, as AUTOMATIC1111 reads it


def sampler_label(name: str) -> str:
    """AUTOMATIC1111's label for a sampler we recorded by any of its names ("dpm_2" -> "DPM2"): the entry whose
    choice it is, else the first entry of its class."""
    choice = resolve_sampler(name)
    same_class = [entry for entry in SAMPLERS if entry.sampler == choice.sampler]
    exact = [entry for entry in same_class if entry.choice(choice.schedule) == choice]
    return (exact or same_class)[0].label


def schedule_label(discretization: str) -> str | None:
    """AUTOMATIC1111's "Schedule type" for a discretization class, or None for schedules it has no name for (the
    models' own DDPM timesteps, EDM's, the Turbo substeps)."""
    return next((entry.label for entry in SCHEDULES if entry.discretization == discretization), None)


def infotext(parameters: Mapping[str, Any]) -> str:
    """The `parameters` text of a result's recorded parameters (prompt, sampler, steps, ...)."""
    loras = [parse_lora_spec(spec) for spec in parameters.get("loras", ())]
    tags = " ".join(f"<lora:{Path(path).stem}:{weight:g}>" for path, weight in loras)
    prompt = " ".join(part for part in (str(parameters.get("prompt", "")), tags) if part)
    negative = parameters.get("negative_prompt")
    sampler = parameters.get("sampler")
    size = (parameters.get("width"), parameters.get("height"))
    fields = {
        "Steps": parameters.get("steps"),
        "Sampler": sampler_label(sampler) if sampler else None,
        "Schedule type": schedule_label(parameters.get("discretization", "")),
        "CFG scale": parameters.get("guidance"),
        "Seed": parameters.get("seed"),
        "Size": f"{size[0]}x{size[1]}" if None not in size else None,
        "Model": parameters.get("model"),
        "Denoising strength": parameters.get("strength"),
        "Refiner": parameters.get("refiner"),
    }
    pairs = ", ".join(f"{key}: {_quoted(value)}" for key, value in fields.items() if value is not None)
    lines = [prompt, *([f"{NEGATIVE} {negative}"] if negative else []), pairs]
    return "\n".join(lines).strip()


def _quoted(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if any(mark in text for mark in ",:\n") else text


def parse_infotext(text: str) -> dict[str, str]:
    """The `Key: value` pairs of an infotext, with its prompt as "Prompt" and its negative prompt as
    "Negative prompt" (each "" when absent)."""
    *lines, last = text.strip().split("\n")
    pairs = _pairs(last)
    if len(pairs) < MIN_PAIRS:
        lines, pairs = [*lines, last], {}
    prompt, negative, in_negative = [], [], False
    for line in lines:
        if line.startswith(NEGATIVE):
            in_negative, line = True, line[len(NEGATIVE) :].lstrip()
        (negative if in_negative else prompt).append(line)
    return {"Prompt": "\n".join(prompt), "Negative prompt": "\n".join(negative), **pairs}


def _pairs(line: str) -> dict[str, str]:
    """`Key: value, Key: "quoted, value", ...` as a dict; a quoted value is a JSON string."""
    pairs, start = {}, 0
    while (colon := line.find(":", start)) > 0:
        key, value_start = line[start:colon].strip(), colon + 1
        while line.startswith(" ", value_start):
            value_start += 1
        if line.startswith('"', value_start):
            try:
                value, end = json.JSONDecoder().raw_decode(line, value_start)
            except json.JSONDecodeError:
                return pairs
        else:
            end = line.find(",", value_start)
            end = len(line) if end < 0 else end
            value = line[value_start:end].strip()
        pairs[key] = value
        comma = line.find(",", end)
        if comma < 0:
            break
        start = comma + 1
    return pairs


def request_fields(parameters: Mapping[str, str]) -> dict[str, Any]:
    """The `Request` fields an infotext gives (model by catalog name or official file name, prompt without its
    LoRA tags, the LoRAs by file name, sampler and schedule labels, numbers); "Model" not in the catalog is left
    out."""
    prompt = parameters.get("Prompt", "")
    tags = LORA_TAG.findall(prompt)
    fields: dict[str, Any] = {"prompt": LORA_TAG.sub("", prompt).strip(),
                              "negative_prompt": parameters.get("Negative prompt", "")}  # fmt: skip
    readers = {"Steps": ("steps", int), "Seed": ("seed", int), "CFG scale": ("cfg", float),
               "Denoising strength": ("strength", float), "Sampler": ("sampler", str),
               "Schedule type": ("discretization", str)}  # fmt: skip
    try:
        fields["loras"] = tuple((Path(f"{name.strip()}.safetensors"), float(weight or 1)) for name, weight in tags)
        for key, (field, read) in readers.items():
            if key in parameters:
                fields[field] = read(parameters[key])
        if "Size" in parameters:
            fields["width"], fields["height"] = (int(side) for side in parameters["Size"].split("x"))
    except ValueError as error:
        raise SgmError(f"unreadable AUTOMATIC1111 parameters: {error}") from None
    model = parameters.get("Model")
    by_file = {Path(file).stem: name for name, entry in catalog.CATALOG.items() for file in entry.files}
    if model in catalog.CATALOG or model in by_file:
        fields["model"] = model if model in catalog.CATALOG else by_file[model]
    return fields
