"""`uv run apps/gradio` options: defaults, and bad values refused with one line."""

import pytest
import torch
from sgm.kernels import available_backends
from sgm_gradio.main import parse_args


def test_defaults_listen_on_localhost_with_one_gpu_job():
    args = parse_args([])
    assert (args.host, args.port, args.concurrency) == ("127.0.0.1", 7860, 1)
    assert (args.device, args.dtype, args.attention, args.max_upload_mb) == (None, None, None, 50)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_cuda_without_a_gpu_is_refused(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--device", "cuda"])
    assert "CUDA is not available on this machine; use --device cpu" in capsys.readouterr().err


@pytest.mark.skipif("xformers" in available_backends(), reason="checks the message when xformers is absent")
def test_an_attention_backend_that_is_not_installed_is_refused(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--attention", "xformers"])
    assert "--attention xformers is not installed here" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "0"], "--port must be"),
        (["--concurrency", "0"], "at least 1"),
        (["--max-upload-mb", "0"], "--max-upload-mb must be more than 0"),
        (["--dtype", "fp8"], "invalid choice: 'fp8'"),
        (["--device", "tpu:x"], "--device tpu:x is not a torch device"),
        (["--attention", "flash"], "invalid choice: 'flash'"),
    ],
)
def test_bad_values_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert message in capsys.readouterr().err
