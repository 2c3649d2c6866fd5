"""How the sampling loop calls the denoiser: eagerly, replayed from a CUDA graph, or through `torch.compile`.

On a GPU an SDXL step is about 400 small kernel launches; called eagerly, their host-side cost dominates (the
Triton kernels lose to SDPA there), while replayed from a CUDA graph the same step takes a fraction of the time
(packages/sgm-kernels/BENCHMARKS.md). `auto` picks graphs on CUDA and eager calls on the CPU.
"""

import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from sgm.core.diffusion.guiders import Guider
from sgm.core.errors import SgmError
from sgm.core.inference import constant_context
from sgm.kernels import graph_launches
from sgm.pipelines.guidance_split import GuidanceHalves

log = logging.getLogger(__name__)
MODES = ("auto", "none", "graphs", "compile")
Capture = Callable[[Callable[[], torch.Tensor]], Callable[[], torch.Tensor]]


def resolve_mode(mode: str | None, device: torch.device) -> str:
    """The mode that runs: `auto` (or None) is graphs on CUDA and none elsewhere; graphs need CUDA."""
    mode = mode or "auto"
    if mode not in MODES:
        raise SgmError(f"compile must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "auto":
        return "graphs" if device.type == "cuda" else "none"
    if mode == "graphs" and device.type != "cuda":
        raise SgmError(f"compile=graphs needs a CUDA device, not {device.type}: use compile or none")
    return mode


def sampling_denoiser(
    engine: nn.Module, mode: str, split_guider: Guider | None = None, **network_inputs: Any
) -> Callable:
    """`engine.denoise` (with `network_inputs` bound) as the sampler should call it in `mode`; with `split_guider`
    (the sampler's guider), once per half of its guidance batch (`sgm.pipelines.guidance_split`), inside the graph."""
    if split_guider is not None:
        denoise = GuidanceHalves(engine.denoise, split_guider, network_inputs)
    else:
        denoise = functools.partial(engine.denoise, **network_inputs) if network_inputs else engine.denoise
    if mode == "compile":
        compile_repeated_blocks(engine.model)
    if mode == "graphs":
        return GraphedDenoiser(denoise)
    return denoise


def sampling_scope(mode: str) -> contextlib.AbstractContextManager:
    """The text's keys and values are kept across steps (`constant_context`), except inside CUDA graphs: there the
    static inputs already make each step the same work, and the check for an equal context would sync the host."""
    return contextlib.nullcontext() if mode == "graphs" else constant_context()


def compile_repeated_blocks(network: nn.Module) -> int:
    """Regional compilation: `torch.compile` each block of the UNet's input, middle and output blocks in place (the
    same few block kinds repeat, so compiling them is quicker than the whole network and reuses the code across
    calls); returns how many blocks are compiled. Compiling twice is a no-op."""
    unet = getattr(network, "diffusion_model", network)
    blocks = [*getattr(unet, "input_blocks", []), getattr(unet, "middle_block", None), *getattr(unet, "output_blocks", [])]
    blocks = [block for block in blocks if block is not None]
    if not blocks:
        raise SgmError(f"compile=compile knows UNet-shaped networks; {type(unet).__name__} has no blocks to compile")
    for block in blocks:
        if getattr(block, "_compiled_call_impl", None) is None:
            block.compile()
    return len(blocks)


def cuda_graph_capture(run: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
    """`run` captured into a CUDA graph (after warm-up calls on a side stream, as torch's docs prescribe); returns
    the replay, which gives the graph's static output. Inside, `auto` kernels are the Triton ones
    (`sgm.kernels.graph_launches`: their launches cost nothing on replay)."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with graph_launches():
        with torch.cuda.stream(stream):
            for _ in range(2):
                run()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            output = run()

    def replay() -> torch.Tensor:
        graph.replay()
        return output

    return replay


class GraphedDenoiser:
    """`denoise(x, sigma, cond)` replayed from a graph captured on the first call with each set of input shapes (a
    sampling run has one: the guidance batch included). Each call copies its inputs into the graph's static buffers
    and returns a copy of the static output. If capture fails, it says so once and calls `denoise` eagerly.

    capture: turns a zero-argument call over the static buffers into its replay (`cuda_graph_capture`; tests pass
    an eager stand-in to check the buffer handling on the CPU)."""

    def __init__(self, denoise: Callable, capture: Capture = cuda_graph_capture):
        self.denoise = denoise
        self.capture = capture
        self.graphs: dict[tuple, tuple[list[torch.Tensor], Callable[[], torch.Tensor]]] = {}
        self.eager = False

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, cond: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.eager:
            return self.denoise(x, sigma, cond)
        keys = sorted(cond)
        inputs = [x, sigma, *(cond[key] for key in keys)]
        signature = (tuple(keys), *((t.shape, t.dtype, t.device) for t in inputs))
        if signature not in self.graphs:
            try:
                self.graphs[signature] = self._captured(inputs, keys)
            except RuntimeError as error:  # e.g. an operation that cannot be captured
                log.warning("CUDA graph capture failed (%s); sampling eagerly", str(error).splitlines()[0])
                self.eager = True
                return self.denoise(x, sigma, cond)
        static, replay = self.graphs[signature]
        for buffer, value in zip(static, inputs, strict=True):
            buffer.copy_(value)
        return replay().clone()

    def _captured(self, inputs: list[torch.Tensor], keys: list[str]):
        static = [tensor.clone() for tensor in inputs]
        x, sigma, *values = static
        replay = self.capture(lambda: self.denoise(x, sigma, dict(zip(keys, values, strict=True))))
        return static, replay

