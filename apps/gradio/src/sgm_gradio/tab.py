"""One generation tab, built the same way for every task: model picker with checkpoint status, the task's controls,
seed with a random button, Generate / Stop, results with downloadable files, and the parameters of each result with a
button that puts them back into the controls."""

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from sgm_gradio.jobs import RunHooks, StopFlags, run_isolated
from sgm_gradio.outputs import RunOutput, save_run

MAX_SEED = 2**32 - 1
# A model's checkpoint status: None when the model can run, else the sentence saying which file to put where.
CheckpointStatus = Callable[[str], str | None]
# A model's own settings by control name, shown when the user picks that model.
ModelDefaults = Callable[[str], dict[str, Any]]
Runner = Callable[[str, dict[str, Any], RunHooks], RunOutput]


@dataclass
class TabSpec:
    """key: short name used in API names and output folders; build_controls: creates the task's inputs inside the
    current layout and returns them by parameter name; run: calls the pipeline; uploads: parameters holding uploaded
    files (shown in the parameters, not restored by Reuse); video: results are videos rather than images."""

    key: str
    title: str
    blurb: str
    models: list[str]
    build_controls: Callable[[], dict[str, gr.components.Component]]
    run: Runner
    uploads: tuple[str, ...] = ()
    video: bool = False
    default_seed: int = 23
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class AppContext:
    """What every tab shares: checkpoint lookup, models' own settings, stop flags, where results go, and the GPU
    queue's size."""

    checkpoint_status: CheckpointStatus
    model_defaults: ModelDefaults
    output_dir: Path
    concurrency: int = 1
    stop_flags: StopFlags = field(default_factory=StopFlags)
    plan: Callable[[str, str, dict[str, Any]], str] | None = None  # (tab, model, settings) -> the memory plan


@dataclass
class TabStatus:
    """The checkpoint check of a tab, for the app to run when a page loads."""

    check: Callable[[str], tuple]
    model: gr.Dropdown
    outputs: list[gr.components.Component]


def build_tab(spec: TabSpec, context: AppContext) -> TabStatus:
    with gr.Tab(spec.title, id=spec.key, elem_id=f"{spec.key}-tab"):
        gr.Markdown(spec.blurb)
        with gr.Row():
            with gr.Column(scale=1):
                model = gr.Dropdown(spec.models, value=spec.models[0], label="Model", elem_id=f"{spec.key}-model")
                status = gr.Markdown(elem_id=f"{spec.key}-status")
                controls = spec.build_controls()
                for name, value in context.model_defaults(spec.models[0]).items():
                    if name in controls:  # the tab opens with its first model's settings, as if picked
                        controls[name].value = value
                with gr.Row():
                    seed = gr.Number(spec.default_seed, label="Seed", precision=0, minimum=0, maximum=MAX_SEED, scale=4)
                    dice = gr.Button("Random seed", scale=1, size="sm")
                with gr.Row():
                    generate = gr.Button("Generate", variant="primary", elem_id=f"{spec.key}-generate")
                    stop = gr.Button("Stop", variant="stop", elem_id=f"{spec.key}-stop")
            with gr.Column(scale=1):
                if spec.video:
                    result = gr.Video(label="Result", autoplay=True, loop=True, elem_id=f"{spec.key}-result")
                else:
                    result = gr.Gallery(label="Result", columns=4, elem_id=f"{spec.key}-result")
                files = gr.File(label="Files", file_count="multiple", interactive=False)
                params = gr.JSON(label="Parameters of this result", elem_id=f"{spec.key}-params")
                reuse = gr.Button("Reuse these parameters", size="sm")
                if context.plan is not None:
                    with gr.Accordion("Memory plan", open=False):
                        plan_view = gr.Markdown(elem_id=f"{spec.key}-plan")
                        plan_button = gr.Button("Plan memory for these settings", size="sm")

    names = list(controls)
    inputs = [model, *controls.values(), seed]

    def show_status(name: str):
        problem = context.checkpoint_status(name)
        if problem is None:
            return "", gr.update(interactive=True)
        return f"**Checkpoint missing.** {problem}", gr.update(interactive=False)

    # gradio passes the request and the progress tracker at their positions in the signature, hence their order
    def run(request: gr.Request, progress=gr.Progress(track_tqdm=True), *values):  # noqa: B008
        model_name, *control_values, seed_value = values
        settings = {"model": model_name, **dict(zip(names, control_values)), "seed": int(seed_value or 0)}
        hooks = RunHooks(progress, context.stop_flags.fresh(session_of(request)))

        def job():
            problem = context.checkpoint_status(model_name)
            if problem is not None:
                raise gr.Error(problem, title="Checkpoint missing", print_exception=False)
            output = spec.run(model_name, settings, hooks)
            shown = {**_shown(settings, spec.uploads), **output.info}
            return save_run(output, shown, context.output_dir / spec.key), shown

        saved, shown = run_isolated(job)
        results = [str(p) for p in (saved.videos[0:1] if spec.video else saved.images)]
        return (results[0] if spec.video else results), [str(p) for p in saved.files], shown

    def request_stop(request: gr.Request):
        if context.stop_flags.stop(session_of(request)):
            gr.Info("Stopping after the current step.")

    def restore(saved: dict | None):
        if not saved:
            return [gr.skip()] * len(inputs)
        restored = [saved.get("model", gr.skip())]
        restored += [gr.skip() if n in spec.uploads else saved.get(n, gr.skip()) for n in names]
        return [*restored, saved.get("seed", gr.skip())]

    def show_model_defaults(name: str):
        values = context.model_defaults(name)
        return [gr.update(value=values[n]) if n in values else gr.skip() for n in names]

    model.change(show_status, model, [status, generate], api_name=False, queue=False)
    # on the user's pick only: Reuse also sets the model, and must keep the restored settings
    model.input(show_model_defaults, model, list(controls.values()), api_name=False, queue=False)
    dice.click(lambda: random.randint(0, MAX_SEED), None, seed, api_name=False, queue=False)
    run_event = generate.click(
        run,
        inputs,
        [result, files, params],
        api_name=spec.key,
        concurrency_id="gpu",
        concurrency_limit=context.concurrency,
    )
    stop.click(request_stop, None, None, api_name=f"{spec.key}_stop", queue=False, cancels=[run_event])
    reuse.click(restore, params, inputs, api_name=f"{spec.key}_reuse", queue=False)
    if context.plan is not None:

        def show_plan(*values):
            model_name, *control_values, seed_value = values
            settings = {**dict(zip(names, control_values)), "seed": int(seed_value or 0)}
            return context.plan(spec.key, model_name, settings)

        plan_button.click(show_plan, inputs, plan_view, api_name=False, queue=False)
    return TabStatus(show_status, model, [status, generate])


def session_of(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "no-session"


def _shown(settings: dict[str, Any], uploads: tuple[str, ...]) -> dict[str, Any]:
    """The settings as a user reads them: uploaded files by name, not by temp path."""
    return {k: (Path(v).name if k in uploads and v else v) for k, v in settings.items()}
