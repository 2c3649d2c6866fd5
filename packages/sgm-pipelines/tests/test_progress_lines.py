"""A run logged to a file or a pipe shows a progress line every few seconds (and at the end of each stage), never
a silent wait of many minutes."""

import io

from sgm.pipelines import progress


def test_lines_every_few_seconds_when_stderr_is_not_a_terminal(monkeypatch):
    clock = iter(range(100, 1000, 2))  # each step takes 2 seconds
    monkeypatch.setattr(progress.time, "monotonic", lambda: float(next(clock)))
    log = io.StringIO()
    report = progress.Progress("sdxl-base", stream=log).for_stage("sampling")
    for i in range(51):
        report(i, 50)
    lines = log.getvalue().splitlines()
    assert lines[0] == "sdxl-base: sampling 0/50" and lines[-1] == "sdxl-base: sampling 50/50"
    assert 15 <= len(lines) <= 25  # about one line per LINE_INTERVAL_S (5 s) of 100 s, not one per step
