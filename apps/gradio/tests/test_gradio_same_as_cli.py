"""One request, two apps: the web app and `sgm sample` build the same `sgm.pipelines.Request` and write the same
bytes (image, LoRA and PNG parameters alike)."""

import pytest
from gradio_client import Client

cli = pytest.importorskip("sgm_cli.main", reason="the CLI app is not installed")


def test_txt2img_from_the_web_app_and_the_cli_are_the_same_file(app_url, recorder, tmp_path, capsys, lora_file):
    recorder.step_seconds = 0.0
    client = Client(app_url, verbose=False)
    settings = {"model": "sd-2.1", "prompt": "a red cube", "negative_prompt": "fog", "width": 256, "height": 256,
                "num_samples": 1, "sampler": "EulerEDMSampler", "steps": 2, "guidance": 5.0, "refiner": False,
                "refiner_strength": 0.5, "loras": {"headers": ["LoRA file", "weight"],
                "data": [[lora_file, 0.5]], "metadata": None}, "seed": 11}  # fmt: skip
    _, files, _ = client.predict(*settings.values(), api_name="/txt2img")
    (web,) = [item for item in files if item.endswith(".png")]

    status = cli.main(["sample", "--model", "sd-2.1", "--prompt", "a red cube", "--negative-prompt", "fog",
                       "--width", "256", "--height", "256", "--sampler", "EulerEDMSampler", "--steps", "2",
                       "--cfg", "5.0", "--seed", "11", "--device", "cpu", "--output", str(tmp_path),
                       "--lora", f"{lora_file}:0.5"])  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0
    (png,) = out.split()
    with open(web, "rb") as from_web, open(png, "rb") as from_cli:
        assert from_web.read() == from_cli.read()
