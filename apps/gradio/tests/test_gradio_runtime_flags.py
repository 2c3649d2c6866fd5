"""`--device`, `--dtype`, `--attention` and `--max-upload-mb` reach the pipelines and the upload checks: an app built
from those options (as `uv run apps/gradio` builds it), launched on the tiny models."""

from importlib import import_module

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image
from sgm.kernels.backend import ENV_VAR
from sgm_gradio.main import app_from_args, parse_args

kernels = import_module("sgm.kernels.attention")  # the module; the package exports the function of that name
FLAGS = ["--device", "cpu", "--dtype", "bf16", "--attention", "math", "--max-upload-mb", "0.01"]
NO_LORAS = {"headers": ["LoRA file", "weight"], "data": [["", 0]], "metadata": None}


@pytest.fixture(scope="module")
def client(tiny_models, launch, tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_VAR, "auto")  # app_from_args sets it for the process; put it back afterwards
        app = app_from_args(parse_args([*FLAGS, "--output", str(tmp_path_factory.mktemp("outputs"))]))
        yield Client(launch(app), verbose=False)
        app.close()


def test_models_run_on_the_chosen_device_dtype_and_kernels(client, monkeypatch):
    calls = []

    def counted_math(q, k, v):
        calls.append(q.dtype)
        return math_attention(q, k, v)

    math_attention = kernels.attention_math
    monkeypatch.setattr(kernels, "attention_math", counted_math)
    args = ("sd-2.1", "a cube", "", "", 256, 256, 1, "EulerEDMSampler", 1, 5.0, False, 0.15, NO_LORAS, 1)
    gallery, _, params = client.predict(*args, api_name="/txt2img")
    assert np.asarray(Image.open(gallery[0]["image"])).shape == (256, 256, 3)
    assert {key: params[key] for key in ("device", "dtype", "attention")} == {"device": "cpu", "dtype": "bf16",
                                                                               "attention": "math"}  # fmt: skip
    # the math kernel ran: the UNet's attention in bf16, the autoencoder's in fp32 (kept so for half dtypes)
    assert set(calls) == {torch.bfloat16, torch.float32}


def test_an_upload_over_max_upload_mb_is_refused_clearly(client, tmp_path):
    noise = np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "noise.png")  # about 48 KB of incompressible pixels
    with pytest.raises(AppError, match=r"noise\.png is 0\.0\d+ MB; the limit is 0\.01 MB"):
        client.predict("sdxl-base", handle_file(tmp_path / "noise.png"), None, "a cat", "", "", 0.5, 1,
                       "EulerEDMSampler", 1, 5.0, False, 0.15, NO_LORAS, 1, api_name="/img2img")  # fmt: skip
