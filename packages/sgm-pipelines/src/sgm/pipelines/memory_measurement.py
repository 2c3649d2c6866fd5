"""The peak tensor memory of each stage of a real run on the CPU, from the allocator's own records (torch.profiler's
allocation events), to check the memory plan against: the same stage probes, real weights, real tensors.

Bytes are counted from the profiler's start, which comes after the weights and the host inputs exist, so a stage's
figure is what its tensors (and those still alive from earlier stages) take at most, as in the plan; the weights are
added from the modules themselves.
"""

import contextlib
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch._C._profiler import _EventType
from torch.profiler import ProfilerActivity, profile, record_function

from sgm.pipelines.stage_probes import ProbeShape, run_image_probe, run_video_probe, video_probe_host_inputs

_PREFIX = "sgm-stage:"


def measured_activations(pipeline: Any, shape: ProbeShape) -> dict[str, tuple[str, int]]:
    """`{stage: (component, peak bytes of the stage's tensors)}` of one probe on a CPU pipeline."""
    components: dict[str, str] = {}

    @contextlib.contextmanager
    def stage(name: str, component: str) -> Iterator[None]:
        components[name] = component
        with record_function(_PREFIX + name):
            yield

    video = hasattr(pipeline, "sampling")
    host = video_probe_host_inputs(pipeline, shape) if video else {}
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        if video:
            run_video_probe(pipeline, shape, stage, host)
        else:
            run_image_probe(pipeline, shape, stage)
    windows, allocations = _windows_and_allocations(profiler.profiler.kineto_results.experimental_event_tree())
    peaks = {}
    for name, (start, end) in windows.items():
        live = peak = 0
        for time, size in allocations:
            if time > end:
                break
            live += size
            if time >= start:
                peak = max(peak, live)
            else:
                peak = live
        peaks[name] = (components[name], peak)
    return peaks


def measured_peak(run: Callable[[], Any]) -> int:
    """The most bytes the CPU allocator held at once for what `run()` allocated."""
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        run()
    _, allocations = _windows_and_allocations(profiler.profiler.kineto_results.experimental_event_tree())
    return max(itertools.accumulate(size for _, size in allocations), default=0)


def _windows_and_allocations(roots) -> tuple[dict[str, tuple[int, int]], list[tuple[int, int]]]:
    """Each stage's `(start, end)` in ns, and every CPU allocation (+) and free (-) as `(time, bytes)`, in order."""
    windows, allocations, pending = {}, [], list(roots)
    while pending:
        node = pending.pop()
        pending.extend(node.children)
        if node.tag == _EventType.Allocation and node.extra_fields.device.type == "cpu":
            allocations.append((node.start_time_ns, node.extra_fields.alloc_size))
        elif node.name.startswith(_PREFIX):
            windows[node.name[len(_PREFIX):]] = (node.start_time_ns, node.end_time_ns)
    return windows, sorted(allocations)
