"""The gradio app: one tab per task, a shared GPU queue, results saved under the output folder."""

from collections.abc import Mapping
from pathlib import Path

import gradio as gr

from sgm_gradio.tab import AppContext, CheckpointStatus, ModelDefaults, Runner, build_tab
from sgm_gradio.tasks import tab_specs

TITLE = "sgm: Stability AI's generative models"


def build_app(
    runners: Mapping[str, Runner] | None = None,
    checkpoint_status: CheckpointStatus | None = None,
    output_dir: Path = Path("outputs/gradio"),
    concurrency: int = 1,
    max_queue: int | None = 64,
    model_defaults: ModelDefaults | None = None,
    note: str | None = None,
) -> gr.Blocks:
    """The app; `runners`, `checkpoint_status` and `model_defaults` (the settings a tab shows when the user picks a
    model) default to the packages' pipelines (`PipelineRunners`, on the default device) and the model catalog.

    concurrency: how many GPU jobs run at once (all tabs share one queue); max_queue: waiting requests beyond this
    are turned away with a message; note: a paragraph under the title (what the page says about the HTTP API).
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    if runners is None or checkpoint_status is None or model_defaults is None:
        from sgm_gradio import runners as package_runners

        runners = runners if runners is not None else package_runners.PipelineRunners().as_dict()
        checkpoint_status = checkpoint_status or package_runners.checkpoint_status
        model_defaults = model_defaults or package_runners.model_defaults
    context = AppContext(checkpoint_status, model_defaults, Path(output_dir).resolve(), concurrency)
    with gr.Blocks(title=TITLE) as app:
        gr.Markdown(
            f"# {TITLE}\nPick a task, set the controls, press **Generate**. Results and their settings are "
            f"saved under `{context.output_dir}`." + (f"\n\n{note}" if note else "")
        )
        with gr.Tabs():
            statuses = [build_tab(spec, context) for spec in tab_specs(runners)]
        for status in statuses:
            app.load(status.check, status.model, status.outputs, api_name=False, queue=False)
    app.queue(max_size=max_queue, default_concurrency_limit=concurrency)
    return app
