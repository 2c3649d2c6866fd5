"""`uv run apps/gradio`: uv runs this directory, which starts the web app."""

from sgm_gradio.main import main

main()
