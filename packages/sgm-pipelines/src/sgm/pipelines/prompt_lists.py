"""Prompt lists: one generation per line of a file, read and checked whole before any model loads.

A line is a prompt, or (when it starts with `{`) a JSON object holding `prompt` and the options that line changes
(`seed`, `width`, `height`, `negative_prompt`, `steps`, `cfg`, `sampler`, ...: `Request` fields). Blank lines are
skipped. Each line's seed is its own `seed`, else the list's base seed plus the line's position in the list, so a
line draws the same noise however the list is split between processes.
"""

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sgm.core.errors import SgmError
from sgm.pipelines import catalog
from sgm.pipelines.checks import check_request
from sgm.pipelines.names import closest
from sgm.pipelines.request import Request
from sgm.pipelines.seeds import MAX_SEED, check_seed

# Where and how the whole list runs: the command's choice, not a line's.
_NOT_PER_LINE = {"model", "output", "ckpt", "refiner_ckpt", "device", "dtype", "attention", "watermark", "allow_pickle"}
LINE_FIELDS = tuple(f.name for f in dataclasses.fields(Request) if f.name not in _NOT_PER_LINE)
_PATHS = {"init_image", "input"}
_SEQUENCES = {"elevations_deg", "azimuths_deg"}


@dataclass(frozen=True)
class PromptLine:
    """One generation of a list: `number` is its line in the file (1-based, for messages), `index` its position
    among the list's generations (0-based: it names the outputs and offsets the seed), `fields` the `Request`
    fields it sets."""

    number: int
    index: int
    fields: Mapping[str, Any]


def read_prompt_list(path: str | Path) -> list[PromptLine]:
    """The generations of the list file at `path`; a malformed line is an SgmError naming the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SgmError(f"cannot read the prompt list {path}: {error}") from None
    lines = parse_prompt_list(text, path)
    if not lines:
        raise SgmError(f"the prompt list {path} has no prompts: write one prompt (or JSON object) per line")
    return lines


def parse_prompt_list(text: str, source: str | Path = "prompt list") -> list[PromptLine]:
    """The generations of a list's `text` (none when it is blank); a malformed line is an SgmError naming `source`
    (the file, or what holds the text) and the line."""
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            fields = _json_fields(line) if line.lstrip().startswith("{") else {"prompt": line.strip()}
        except SgmError as error:
            raise SgmError(f"{source} line {number}: {error}") from None
        lines.append(PromptLine(number, len(lines), fields))
    return lines


def _json_fields(line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise SgmError(f"not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(record, dict):
        raise SgmError("a line starting with { must be one JSON object")
    unknown = [key for key in record if key not in LINE_FIELDS]
    if unknown:
        raise SgmError(f"unknown option {unknown[0]!r}{closest(unknown[0], LINE_FIELDS)}; a line may set "
                       f"{', '.join(LINE_FIELDS)}")  # fmt: skip
    fields = dict(record)
    for key in _PATHS & fields.keys():
        if not isinstance(fields[key], str):
            raise SgmError(f"{key} must be a file path, got {fields[key]!r}")
        fields[key] = Path(fields[key])
    for key in _SEQUENCES & fields.keys():
        if isinstance(fields[key], list):
            fields[key] = tuple(fields[key])
    for key in ("prompt", "negative_prompt"):
        if key in fields and not isinstance(fields[key], str):
            raise SgmError(f"{key} must be text, got {fields[key]!r}")
    return fields


def line_seed(base_seed: int, index: int) -> int:
    """The seed of the list's `index`-th generation: the base seed plus its position, wrapped into the seed range."""
    return (base_seed + index) % (MAX_SEED + 1)


def line_requests(lines: list[PromptLine], base: Request, path: str | Path = "prompt list") -> list[Request]:
    """Each line's request: `base` (the command's options) with the line's fields and seed, checked against the
    model; the first line that fails is an SgmError naming its line number. Nothing is loaded."""
    base_seed = check_seed(base.seed if base.seed is not None else catalog.get_entry(base.model).defaults.get("seed"))
    requests = []
    for line in lines:
        fields = {"seed": line_seed(base_seed, line.index), **line.fields}
        try:
            requests.append(check_request(base.replace(**fields)))
        except SgmError as error:
            raise SgmError(f"{path} line {line.number}: {error}") from None
        except TypeError as error:  # a field of the wrong JSON type that a check compared or did arithmetic on
            raise SgmError(f"{path} line {line.number}: a value has the wrong type ({error})") from None
    return requests
