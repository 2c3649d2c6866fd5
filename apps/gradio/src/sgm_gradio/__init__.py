"""The sgm web app: `build_app()` returns the gradio Blocks; `main()` is `uv run apps/gradio`."""

from sgm_gradio.app import build_app
from sgm_gradio.main import main

__all__ = ["build_app", "main"]
