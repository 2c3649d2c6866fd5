"""The sgm web app: `build_app()` returns the gradio Blocks; `main()` is `uv run apps/gradio`.

Gradio reports usage to its makers unless told not to; this app sends nothing unless the user sets
GRADIO_ANALYTICS_ENABLED=True, so the default is set before gradio is imported.
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from sgm_gradio.app import build_app  # noqa: E402 -- after the analytics default
from sgm_gradio.main import main

__all__ = ["build_app", "main"]
