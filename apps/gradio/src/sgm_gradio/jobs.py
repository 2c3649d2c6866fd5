"""Running one user's request: stop flags per browser session, progress by stage and step, and errors that reach only
the user who caused them."""

import logging
import re
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
from sgm.core.errors import SgmError

log = logging.getLogger("sgm_gradio")
# An absolute path on the server (not the `//` of a URL, not a relative `a/b`): users see only its last name.
_SERVER_PATH = re.compile(r"(?<![\w:/.~-])/(?:[^\s'\"`()\[\],;:/]+/)*([^\s'\"`()\[\],;:/]+)")


class RunStopped(Exception):
    """Raised between sampling steps after the user pressed Stop."""


@dataclass
class RunHooks:
    """What a pipeline call gets to report progress and to notice a stop request.

    `step(stage, i, total)` is called before step i of `total` in a stage ("sampling", "decoding", ...); it raises
    RunStopped once Stop was pressed, so a run ends between steps and the GPU is free for the next request.
    """

    progress: Callable[..., Any]
    stop_requested: threading.Event = field(default_factory=threading.Event)

    def step(self, stage: str, i: int, total: int) -> None:
        if self.stop_requested.is_set():
            raise RunStopped(f"Stopped during {stage}, at step {i} of {total}.")
        self.progress((i, total), desc=stage, unit="steps")

    def stage(self, name: str) -> None:
        if self.stop_requested.is_set():
            raise RunStopped(f"Stopped before {name}.")
        self.progress(None, desc=name)


class StopFlags:
    """One stop flag per browser session, so Stop ends only the presser's run."""

    def __init__(self):
        self._lock = threading.Lock()
        self._flags: dict[str, threading.Event] = {}

    def fresh(self, session: str) -> threading.Event:
        with self._lock:
            self._flags[session] = threading.Event()
            return self._flags[session]

    def stop(self, session: str) -> bool:
        with self._lock:
            flag = self._flags.get(session)
        if flag is None:
            return False
        flag.set()
        return True


def user_message(error: BaseException) -> str:
    """One line for the user, naming files by their names only (no server paths, no tool's banner on the lines
    after), after where it happened when the run said (a prompt list's "prompt 2 of 5", as an exception note); the
    traceback goes to the server log."""
    where = "".join(f"{note}: " for note in getattr(error, "__notes__", ()) if note.startswith("prompt "))
    return where + _what_failed(error)


def _what_failed(error: BaseException) -> str:
    if type(error).__name__ == "OutOfMemoryError":
        return "Out of GPU memory: lower the size, the number of frames or samples, or the decoding chunk, then retry."
    if isinstance(error, (ValueError, FileNotFoundError, RunStopped, SgmError)):
        return public_text(str(error))
    reason = f"{type(error).__name__}: {public_text(str(error))}"
    return f"The run failed ({reason}). The app is still running; try other settings."


def public_text(text: str) -> str:
    """`text`'s first line with every absolute server path cut to its last name."""
    lines = text.strip().splitlines()
    return _SERVER_PATH.sub(lambda match: match.group(1), lines[0] if lines else "")


def run_isolated(job: Callable[[], Any]) -> Any:
    """Runs `job`; any failure becomes a gr.Error shown to this user only, and frees cached GPU memory."""
    try:
        return job()
    except gr.Error:
        raise
    except RunStopped as stopped:
        raise gr.Error(str(stopped), title="Stopped", print_exception=False) from None
    except Exception as error:  # noqa: BLE001 -- one user's failure must never take the app down for the others
        log.error("run failed:\n%s", traceback.format_exc())
        raise gr.Error(user_message(error), print_exception=False) from None
    finally:
        _release_gpu_cache()


def _release_gpu_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
