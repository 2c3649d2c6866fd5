"""The server's one GPU queue: every run, from a tab of the page or from the HTTP API, is a `Job` here, run by
`concurrency` worker threads (1 by default: a GPU rarely holds two of these models) with one model cache, so the
page and the API share loaded models and wait in one line. At most `max_waiting` jobs wait; more are refused."""

import contextvars
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sgm.pipelines import PipelineCache, Request, run

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)


class QueueFull(Exception):
    """More jobs are waiting than the server takes (`--max-queue`)."""


class JobCancelled(Exception):
    """Raised between steps of a job whose cancellation was asked for."""


@dataclass
class Job:
    """One run: its request, where it stands (`state`, the stage and step it reached) and what it wrote.

    `on_step(stage, i, total)`, when given, hears every step too (the page's progress bar and Stop button) and may
    raise to end the run; it runs in the submitter's context (gradio keeps the event's progress there)."""

    request: Request
    on_step: Callable[[str, int, int], None] | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    state: str = QUEUED
    stage: str = ""
    step: int = 0
    total: int = 0
    files: list[Path] = field(default_factory=list)
    error: BaseException | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    context: contextvars.Context = field(default_factory=contextvars.copy_context)
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    def report(self, stage: str, i: int, total: int) -> None:
        """The pipelines' step hook: records the step, and ends the job here once it was cancelled."""
        if self.cancel_requested.is_set():
            raise JobCancelled(f"cancelled during {stage}, at step {i} of {total}")
        self.stage, self.step, self.total = stage, i, total
        if self.on_step is not None:
            self.on_step(stage, i, total)

    @property
    def fraction(self) -> float:
        """How far the job is: 1 when finished, else its current stage's share of steps done."""
        if self.state == DONE:
            return 1.0
        return self.step / self.total if self.total else 0.0

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)


class JobQueue:
    """Jobs in submission order, `concurrency` at a time, sharing `cache`; the latest `keep` finished jobs stay
    readable. `runner` is `sgm.pipelines.run` (a test may wrap it)."""

    def __init__(
        self,
        *,
        concurrency: int = 1,
        max_waiting: int | None = 64,
        cache: PipelineCache | None = None,
        keep: int = 256,
        runner: Callable[..., list[Path]] = run,
    ):
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.cache = cache or PipelineCache()
        self.concurrency, self.max_waiting, self.keep, self.runner = concurrency, max_waiting, keep, runner
        self._lock = threading.Condition()
        self._waiting: deque[Job] = deque()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._workers: list[threading.Thread] = []

    def submit(
        self, request: Request, on_step: Callable[[str, int, int], None] | None = None, *, job_id: str | None = None
    ) -> Job:
        """Queues a run of `request` (as job `job_id`, default a fresh id); QueueFull when `max_waiting` jobs wait
        already."""
        job = Job(request, on_step) if job_id is None else Job(request, on_step, id=job_id)
        with self._lock:
            if self.max_waiting is not None and len(self._waiting) >= self.max_waiting:
                raise QueueFull(f"{len(self._waiting)} jobs are waiting, the most this server takes; retry later")
            self._waiting.append(job)
            self._jobs[job.id] = job
            self._forget_old()
            self._start_workers()
            self._lock.notify()
        return job

    def run(self, request: Request, on_step: Callable[[str, int, int], None] | None = None) -> list[Path]:
        """Runs `request` in its turn and returns the written files; its failure is raised here."""
        job = self.submit(request, on_step)
        job.wait()
        if job.error is not None:
            raise job.error
        return job.files

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def cancel(self, job: Job) -> None:
        """A waiting job is dropped at once; a running one stops at its next step."""
        with self._lock:
            job.cancel_requested.set()
            if job.state == QUEUED:
                self._waiting.remove(job)
                self._finish(job, CANCELLED, JobCancelled("cancelled before it started"))

    def running(self) -> list[Job]:
        with self._lock:
            return [job for job in self._jobs.values() if job.state == RUNNING]

    def position(self, job: Job) -> int | None:
        """How many jobs wait before `job` (None when it is not waiting)."""
        with self._lock:
            return self._waiting.index(job) if job in self._waiting else None

    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)

    def _start_workers(self) -> None:
        while len(self._workers) < self.concurrency:
            worker = threading.Thread(target=self._work, name=f"sgm-gpu-{len(self._workers)}", daemon=True)
            self._workers.append(worker)
            worker.start()

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._waiting:
                    self._lock.wait()
                job = self._waiting.popleft()
                job.state, job.started = RUNNING, time.time()
            try:
                job.files = job.context.run(self.runner, job.request, callback=job.report, cache=self.cache)
            except JobCancelled as cancelled:
                self._finish(job, CANCELLED, cancelled)
            except Exception as error:  # noqa: BLE001 -- the job's failure is its submitter's, never the worker's
                self._finish(job, FAILED, error)
            else:
                self._finish(job, DONE, None)

    def _finish(self, job: Job, state: str, error: BaseException | None) -> None:
        job.state, job.error, job.finished = state, error, time.time()
        job.done.set()

    def _forget_old(self) -> None:
        finished = [job_id for job_id, job in self._jobs.items() if job.state in FINISHED]
        for job_id in finished[: max(0, len(finished) - self.keep)]:
            del self._jobs[job_id]
