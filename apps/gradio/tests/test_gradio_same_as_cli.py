"""One request, two apps: the web app and `sgm sample` build the same `sgm.pipelines.Request` and write the same
bytes (image, LoRA and PNG parameters alike); a prompt list in the text-to-image tab writes the files of
`sgm sample --prompts` for the same list, shown in line order."""

from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client
from PIL import Image

cli = pytest.importorskip("sgm_cli.main", reason="the CLI app is not installed")

NO_LORAS = {"headers": ["LoRA file", "weight"], "data": [["", 0]], "metadata": None}
# Plain and JSON lines, a blank one (skipped: the third generation's seed is the base seed + 2), per-line options.
PROMPT_LIST = 'a red fox\n{"prompt": "a lighthouse", "seed": 77, "negative_prompt": "fog"}\n\n' \
              '{"prompt": "a boat", "width": 320, "steps": 1}\n'  # fmt: skip


def txt2img_settings(**changes) -> dict:
    """The /txt2img inputs in the tab's order, by name: sd-2.1 at 256 x 256, 2 steps, seed 11."""
    settings = {"model": "sd-2.1", "prompt": "a red cube", "negative_prompt": "fog", "prompt_list": "", "width": 256,
                "height": 256, "num_samples": 1, "sampler": "EulerEDMSampler", "steps": 2, "guidance": 5.0,
                "refiner": False, "refiner_strength": 0.5, "loras": NO_LORAS, "seed": 11}  # fmt: skip
    return {**settings, **changes}


def sgm_sample(capsys, *argv: str) -> list[str]:
    """`sgm sample` on the tab's settings (sd-2.1, 256 x 256, 2 steps, seed 11) plus `argv`; the files it wrote."""
    status = cli.main(["sample", "--model", "sd-2.1", "--width", "256", "--height", "256", "--sampler",
                       "EulerEDMSampler", "--steps", "2", "--cfg", "5.0", "--seed", "11", "--device", "cpu",
                       *argv])  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0
    return out.split()


def same_bytes(first: str, second: str) -> bool:
    return Path(first).read_bytes() == Path(second).read_bytes()


@pytest.fixture
def client(app_url, recorder):
    recorder.step_seconds = 0.0
    return Client(app_url, verbose=False)


def test_txt2img_from_the_web_app_and_the_cli_are_the_same_file(client, tmp_path, capsys, lora_file):
    loras = {**NO_LORAS, "data": [[lora_file, 0.5]]}
    _, files, _ = client.predict(*txt2img_settings(loras=loras).values(), api_name="/txt2img")
    (web,) = [item for item in files if item.endswith(".png")]
    (png,) = sgm_sample(capsys, "--prompt", "a red cube", "--negative-prompt", "fog", "--output", str(tmp_path),
                        "--lora", f"{lora_file}:0.5")  # fmt: skip
    assert same_bytes(web, png)


def test_a_prompt_list_writes_the_files_of_sgm_sample_prompts_in_line_order(client, tmp_path, capsys):
    settings = txt2img_settings(prompt="", negative_prompt="", prompt_list=PROMPT_LIST)
    gallery, files, params = client.predict(*settings.values(), api_name="/txt2img")
    web = [item for item in files if item.endswith(".png")]
    (tmp_path / "prompts.jsonl").write_text(PROMPT_LIST)
    pngs = sgm_sample(capsys, "--prompts", str(tmp_path / "prompts.jsonl"), "--output", str(tmp_path / "cli"))

    assert [Path(png).name for png in pngs] == ["000001.png", "000002.png", "000003.png"]
    assert [same_bytes(a, b) for a, b in zip(web, pngs, strict=True)] == [True, True, True]
    shown = [np.asarray(Image.open(item["image"])) for item in gallery]  # the gallery, in line order too
    assert all(np.array_equal(a, np.asarray(Image.open(b))) for a, b in zip(shown, pngs, strict=True))
    texts = [Image.open(png).text for png in web]
    assert [(t["prompt"], t["seed"]) for t in texts] == [("a red fox", "11"), ("a lighthouse", "77"),
                                                         ("a boat", "13")]  # fmt: skip
    assert [image.shape[:2] for image in shown] == [(256, 256), (256, 256), (256, 320)]
    assert params["prompt_list"] == PROMPT_LIST and params["seed"] == 11  # Reuse puts the list back
