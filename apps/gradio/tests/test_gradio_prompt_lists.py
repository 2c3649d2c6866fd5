"""Prompt lists in the image tabs: a bad line is one message naming its line, and nothing is queued; lines that would
name files on the server are refused; image to image runs every line on the uploaded image, in line order; the list
box loads .txt / .jsonl files. (That a list writes the files of `sgm sample --prompts`: test_gradio_same_as_cli.)"""

import re

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image
from sgm.core.errors import SgmError
from sgm_gradio.job_queue import JobQueue
from sgm_gradio.jobs import RunHooks, user_message
from sgm_gradio.prompt_lists import list_file_text
from sgm_gradio.runners import PipelineRunners, Runtime

NO_LORAS = {"headers": ["LoRA file", "weight"], "data": [["", 0]], "metadata": None}


def txt2img_settings(prompt_list: str, prompt: str = "") -> dict:
    """The txt2img tab's settings (as its runner gets them) with a prompt list."""
    return {"model": "sd-2.1", "prompt": prompt, "negative_prompt": "", "prompt_list": prompt_list, "width": 256,
            "height": 256, "num_samples": 1, "sampler": "EulerEDMSampler", "steps": 1, "guidance": 5.0,
            "refiner": False, "refiner_strength": 0.5, "loras": [["", 0]], "seed": 4}  # fmt: skip


@pytest.mark.parametrize(
    ("prompt_list", "prompt", "message"),
    [
        ('a fox\n{"prompt": "a cat", "steps": 0}\n', "", "prompt list line 2: steps must be a positive whole number"),
        ('a fox\n\n{"prompt": "a cat",}\n', "", "prompt list line 3: not valid JSON"),
        ('a fox\n{"prompt": "a cat", "sed": 3}\n', "", "prompt list line 2: unknown option 'sed': did you mean seed"),
        ('a fox\n{"prompt": "a cat", "width": 100}\n', "", "prompt list line 2: width 100: sd-2.1 needs a multiple"),
        ('{"prompt": "a cat", "init_image": "a.png"}', "", "line 1: init_image is not set per line here (upload the"),
        ('{"prompt": "a cat", "loras": [["x.safetensors", 1]]}\n', "", "prompt list line 1: loras is not set per line"),
        ('{"prompt": "a cat", "compile": "compile"}\n', "", "prompt list line 1: compile is not set per line"),
        ("a fox\n", "a cat", "Give a prompt or a prompt list, not both"),
    ],
    ids=["bad-value", "bad-json", "unknown-option", "bad-size", "server-file", "lora-path", "compile", "both"],
)
def test_a_bad_list_is_one_message_and_nothing_is_queued(tiny_models, tmp_path, prompt_list, prompt, message):
    queued = []
    queue = JobQueue(runner=lambda request, **kwargs: queued.append(request) or [])
    runners = PipelineRunners(Runtime(device="cpu"), output_dir=tmp_path, queue=queue)
    with pytest.raises(SgmError, match=re.escape(message)):
        runners.txt2img("sd-2.1", txt2img_settings(prompt_list, prompt), RunHooks(lambda *a, **k: None))
    assert queued == [] and list(tmp_path.iterdir()) == []


def test_a_run_that_fails_partway_names_the_prompt_and_keeps_the_earlier_results(tiny_models, tmp_path):
    done = []

    def runner(request, **kwargs):
        if len(done) == 1:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        done.append(request.prompt)
        return []

    runners = PipelineRunners(Runtime(device="cpu"), output_dir=tmp_path, queue=JobQueue(runner=runner))
    with pytest.raises(RuntimeError) as failed:
        runners.txt2img("sd-2.1", txt2img_settings("a fox\na cat\na dog\n"), RunHooks(lambda *a, **k: None))
    assert done == ["a fox"]
    assert user_message(failed.value) == ("prompt 2 of 3: The run failed (RuntimeError: CUDA error: an illegal memory "
                                          "access was encountered). The app is still running; try other settings.")


def test_the_page_shows_a_bad_lines_number_before_any_step(app_url, recorder):
    recorder.step_seconds = 0.0
    client = Client(app_url, verbose=False)
    settings = {**txt2img_settings('a fox\n{"prompt": "a cat", "steps": 0}\n'), "loras": NO_LORAS}
    with pytest.raises(AppError, match=r"^prompt list line 2: steps must be a positive whole number, got 0"):
        client.predict(*settings.values(), api_name="/txt2img")
    assert recorder.steps_done[-1] == -1  # the run ended before its first step


def test_img2img_runs_each_line_on_the_uploaded_image_in_order(app_url, recorder, tmp_path):
    recorder.step_seconds = 0.0
    recorder.stages.clear()
    Image.new("RGB", (128, 64), (40, 90, 200)).save(tmp_path / "blue.png")
    prompt_list = 'a boat\n{"prompt": "a castle", "strength": 0.5, "num": 2}\n'
    args = {"model": "sd-2.1", "image": handle_file(tmp_path / "blue.png"), "mask": None, "prompt": "",
            "negative_prompt": "fog", "prompt_list": prompt_list, "strength": 0.8, "num_samples": 1,
            "sampler": "EulerEDMSampler", "steps": 2, "guidance": 4.0, "refiner": False, "refiner_strength": 0.3,
            "loras": NO_LORAS, "seed": 3}  # fmt: skip
    gallery, files, params = Client(app_url, verbose=False).predict(*args.values(), api_name="/img2img")
    shapes = [np.asarray(Image.open(item["image"])).shape for item in gallery]
    assert shapes == [(64, 128, 3)] * 3  # line 1's image, then line 2's two
    texts = [Image.open(path).text for path in files if path.endswith(".png")]
    assert [(t["prompt"], t["seed"], t["strength"], t["negative_prompt"]) for t in texts] == [
        ("a boat", "3", "0.8", "fog"), ("a castle", "4", "0.5", "fog"), ("a castle", "4", "0.5", "fog")]  # fmt: skip
    assert params["prompt_list"] == prompt_list and params["image"] == "blue.png"
    assert {"sampling, prompt 1 of 2", "sampling, prompt 2 of 2"} <= recorder.stages  # the progress bar's stage


def test_the_load_button_puts_a_list_files_text_in_the_box(tmp_path):
    text = 'a red fox\n{"prompt": "a lighthouse", "seed": 7}\n'
    (tmp_path / "prompts.jsonl").write_text(text)
    assert list_file_text(str(tmp_path / "prompts.jsonl")) == text
    (tmp_path / "latin.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    (tmp_path / "huge.txt").write_text("a fox\n" * 200_000)
    (tmp_path / "list.png").write_text(text)
    for name, message in [("latin.txt", "latin.txt is not UTF-8 text"), ("huge.txt", "the limit is 1 MB"),
                          ("list.png", "a prompt list must be one of .txt, .jsonl, got '.png'")]:  # fmt: skip
        with pytest.raises(gr.Error, match=message):
            list_file_text(str(tmp_path / name))
