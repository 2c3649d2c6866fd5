"""`uv run apps/gradio`: starts the web app."""

import argparse
from pathlib import Path

from sgm_gradio.app import build_app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sgm-gradio", description="The sgm web app.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on")
    parser.add_argument("--concurrency", type=int, default=1, help="GPU jobs that run at once (default 1)")
    parser.add_argument("--max-queue", type=int, default=64, help="requests that may wait; more are turned away")
    parser.add_argument("--output", type=Path, default=Path("outputs/gradio"), help="where results are saved")
    parser.add_argument("--max-upload-mb", type=int, default=50, help="largest accepted upload in megabytes")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port must be between 1 and 65535, got {args.port}")
    if args.concurrency < 1:
        parser.error(f"--concurrency must be at least 1, got {args.concurrency}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    app = build_app(output_dir=args.output, concurrency=args.concurrency, max_queue=args.max_queue)
    app.launch(
        server_name=args.host,
        server_port=args.port,
        allowed_paths=[str(args.output.resolve())],
        max_file_size=f"{args.max_upload_mb}mb",
    )
