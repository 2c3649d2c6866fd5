"""Progress of a run, stage by stage ("sampling", "decoding", ...): a tqdm bar on a terminal, a line every few
seconds when stderr is a file or a pipe (a long run logged to a file must not look hung), and the caller's callback
(the web app's progress bar and Stop button)."""

import sys
import time
from collections.abc import Callable
from typing import TextIO

from tqdm.auto import tqdm

# callback(stage, i, total): before step i of `total` of a stage, and with i == total at its end; it may raise to stop.
ProgressCallback = Callable[[str, int, int], None]
LINE_INTERVAL_S = 5.0


class Progress:
    """`report(stage, i, total)` shows and forwards one step; `for_stage(stage)` is a sampler's `StepCallback`.

    name: shown before each stage (the model); show: False for no bar and no lines (the callback still runs)."""

    def __init__(
        self, name: str, callback: ProgressCallback | None = None, *, show: bool = True, stream: TextIO | None = None
    ):
        self.name = name
        self.callback = callback
        self.show = show
        self.stream = stream or sys.stderr
        self._bar: tqdm | None = None
        self._stage: str | None = None
        self._last_line = 0.0

    def for_stage(self, stage: str) -> Callable[[int, int], None]:
        return lambda i, total: self.report(stage, i, total)

    def report(self, stage: str, i: int, total: int) -> None:
        if self.callback is not None:
            self.callback(stage, i, total)
        if not self.show:
            return
        if self.stream.isatty():
            self._update_bar(stage, i, total)
        elif i == total or time.monotonic() - self._last_line >= LINE_INTERVAL_S:
            print(f"{self.name}: {stage} {i}/{total}", file=self.stream, flush=True)
            self._last_line = time.monotonic()

    def _update_bar(self, stage: str, i: int, total: int) -> None:
        if self._bar is None or self._stage != stage or i < self._bar.n:
            self.close()
            self._bar = tqdm(total=total, desc=f"{self.name}: {stage}", leave=False, file=self.stream)
            self._stage = stage
        self._bar.update(i - self._bar.n)
        if i >= total:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
