"""Prompt lists on the page: the text-to-image and image-to-image tabs take a list (typed in their list box, or
loaded into it from a .txt / .jsonl file) as `sgm sample --prompts FILE` takes one: read and checked whole by
`sgm.pipelines.prompt_lists` before any model loads, so the same list makes the same requests, seeds and images in
both apps. The tab's settings are every line's defaults; files on the server and how the server runs are not a
line's to choose."""

import gradio as gr
from sgm.core.errors import SgmError
from sgm.pipelines import Request
from sgm.pipelines.prompt_lists import line_requests, parse_prompt_list

from sgm_gradio.uploads import UploadError, UploadLimits, load_text

SOURCE = "prompt list"  # how messages name the list box: "prompt list line 3: ..."
# The list box shows a loaded file whole: 1 MB is some 10,000 long prompts, more than a list needs.
FILE_LIMITS = UploadLimits(max_megabytes=1.0)
# What a line of the page's list may not set, and where it comes from instead.
_NOT_PER_LINE = {"init_image": "upload the image in the tab", "input": "upload the image in the tab",
                 "mask": "paint the mask in the tab", "loras": "set LoRA weights in the tab's LoRA table",
                 "compile": "the server's --compile option"}  # fmt: skip


def list_requests(text: str | None, base: Request) -> list[Request]:
    """The checked request of each line of the list `text`, in line order, with `base` (the tab's settings) as
    every line's defaults; [] when `text` holds no line. The first bad line is an SgmError naming its number."""
    lines = parse_prompt_list(text or "", SOURCE)
    if not lines:
        return []
    if base.prompt:
        raise SgmError("Give a prompt or a prompt list, not both: clear the Prompt box (the list holds the prompts).")
    for line in lines:
        refused = next((key for key in line.fields if key in _NOT_PER_LINE), None)
        if refused is not None:
            raise SgmError(f"{SOURCE} line {line.number}: {refused} is not set per line here "
                           f"({_NOT_PER_LINE[refused]}).")  # fmt: skip
    return line_requests(lines, base, SOURCE)


def list_file_text(path: str | None) -> str:
    """The text of an uploaded .txt / .jsonl prompt list, for the list box (the tab's load button)."""
    try:
        return load_text(path, FILE_LIMITS)
    except UploadError as error:
        raise gr.Error(str(error), title="Not a prompt list", print_exception=False) from None
