"""One server for the page and the HTTP API: a FastAPI app with the API routes, the gradio page mounted at `/`
(unless `--no-ui`), one job queue and so one model cache for both. Listening beyond this machine needs an API key,
which then guards every API route and the page's login."""

import argparse
import secrets

import gradio as gr
from fastapi import FastAPI

from sgm_gradio.api import ApiContext, add_api_routes
from sgm_gradio.api.limits import RequestLimits
from sgm_gradio.job_queue import JobQueue
from sgm_gradio.runners import Runtime
from sgm_gradio.uploads import UploadLimits


def api_note(api_key: str | None, host: str) -> str:
    """What the page says about the API beside it."""
    routes = ("**HTTP API** on this server: AUTOMATIC1111's routes under `/sdapi/v1` (txt2img, img2img, ...) for the "
              "image models and `/v1/jobs` for every model, described at `/docs`.")  # fmt: skip
    if api_key is None:
        return f"{routes} It is open to this machine only ({host}), without a key."
    return (f"{routes} Every API call needs the server's key (`Authorization: Bearer KEY`, or KEY as the password of "
            f"HTTP basic authentication); this page asks for it too.")  # fmt: skip


def build_server(args: argparse.Namespace, queue: JobQueue | None = None) -> FastAPI:
    """The server `uv run apps/gradio` runs, from its options; `queue` (one GPU queue for page and API) is made from
    `--concurrency` and `--max-queue` unless given."""
    from sgm_gradio.main import app_from_args

    queue = queue or JobQueue(concurrency=args.concurrency, max_waiting=args.max_queue)
    context = ApiContext(
        queue, args.output, Runtime(args.device, args.dtype), UploadLimits(max_megabytes=args.max_upload_mb),
        RequestLimits(max_images=args.max_images), args.api_key,
    )  # fmt: skip
    server = FastAPI(title="sgm", description="Stability AI's generative models over HTTP")
    add_api_routes(server, context)
    if not args.no_ui:
        page = app_from_args(args, queue=queue, note=api_note(args.api_key, args.host))
        login = None if args.api_key is None else (lambda _user, key: secrets.compare_digest(key, args.api_key))
        gr.mount_gradio_app(server, page, path="/", allowed_paths=[str(args.output.resolve())],
                            max_file_size=int(args.max_upload_mb * 2**20), auth=login)  # fmt: skip
    return server
