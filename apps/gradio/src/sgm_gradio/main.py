"""`uv run apps/gradio`: starts the web app and the HTTP API beside it."""

import argparse
import os
from pathlib import Path

import gradio as gr

from sgm_gradio.api.auth import API_KEY_ENV, api_key_problem, default_api_key
from sgm_gradio.app import build_app
from sgm_gradio.job_queue import JobQueue
from sgm_gradio.runners import DTYPES, PipelineRunners, Runtime
from sgm_gradio.uploads import UploadLimits


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from sgm.kernels.backend import BACKENDS

    parser = argparse.ArgumentParser(prog="sgm-gradio", description="The sgm web app.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on")
    parser.add_argument("--concurrency", type=int, default=1, help="GPU jobs that run at once (default 1)")
    parser.add_argument("--max-queue", type=int, default=64, help="requests that may wait; more are turned away")
    parser.add_argument("--output", type=Path, default=Path("outputs/gradio"), help="where results are saved")
    parser.add_argument("--max-upload-mb", type=float, default=50, help="largest accepted upload in megabytes")
    parser.add_argument("--device", help="torch device for every model, e.g. cuda, cuda:1, cpu (default: cuda "
                        "when available)")  # fmt: skip
    parser.add_argument("--dtype", choices=DTYPES, help="weights dtype for every model (default: fp32)")
    parser.add_argument("--compile", choices=("auto", "none", "graphs", "compile"), help="how sampling calls the "
                        "network: CUDA graphs, torch.compile or eagerly (default auto: graphs on CUDA, none on the CPU)")
    parser.add_argument("--attention", choices=BACKENDS, help="attention and norm kernels for every model "
                        "(default: $SGM_ATTENTION_BACKEND, else auto)")  # fmt: skip
    parser.add_argument("--api-key", default=default_api_key(), help=f"key every API call must send (default: "
                        f"${API_KEY_ENV}); required with a --host other than this machine")  # fmt: skip
    parser.add_argument("--no-ui", action="store_true", help="serve the HTTP API only, without the page")
    parser.add_argument("--max-images", type=int, default=8, help="most images one API request may ask for")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port must be between 1 and 65535, got {args.port}")
    if args.concurrency < 1:
        parser.error(f"--concurrency must be at least 1, got {args.concurrency}")
    if args.max_upload_mb <= 0:
        parser.error(f"--max-upload-mb must be more than 0, got {args.max_upload_mb:g}")
    if args.max_images < 1:
        parser.error(f"--max-images must be at least 1, got {args.max_images}")
    problem = (_device_problem(args.device) or _attention_problem(args.attention)
               or api_key_problem(args.host, args.api_key))  # fmt: skip
    if problem:
        parser.error(problem)
    return args


def _device_problem(device: str | None) -> str | None:
    import torch

    if device is None:
        return None
    try:
        kind = torch.device(device).type
    except RuntimeError:
        return f"--device {device} is not a torch device: use e.g. cuda, cuda:1 or cpu"
    if kind == "cuda" and not torch.cuda.is_available():
        return f"--device {device}: CUDA is not available on this machine; use --device cpu"
    return None


def _attention_problem(backend: str | None) -> str | None:
    from sgm.kernels import available_backends

    if backend in (None, "auto") or backend in available_backends():
        return None
    return f"--attention {backend} is not installed here: choose one of auto, {', '.join(available_backends())}"


def app_from_args(args: argparse.Namespace, queue: JobQueue | None = None, note: str | None = None) -> gr.Blocks:
    """The page the options describe, its runs in `queue` (the server's, shared with the API), `note` shown under
    the title. `--attention` sets the process-wide kernel switch, as $SGM_ATTENTION_BACKEND does, so every run of
    every tab uses it."""
    from sgm.kernels.backend import ENV_VAR

    if args.attention:
        os.environ[ENV_VAR] = args.attention
    runners = PipelineRunners(Runtime(args.device, args.dtype, args.compile),
                              UploadLimits(max_megabytes=args.max_upload_mb), output_dir=args.output,
                              queue=queue)  # fmt: skip
    return build_app(runners.as_dict(), output_dir=args.output, concurrency=args.concurrency, max_queue=args.max_queue,
                     note=note)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from sgm_gradio.server import build_server

    args = parse_args(argv)
    uvicorn.run(build_server(args), host=args.host, port=args.port)
