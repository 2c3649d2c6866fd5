"""How sampling calls the denoiser (`sgm.pipelines.compiled`): the CUDA-graph path's buffer handling with an eager
stand-in for the capture (no GPU here), `torch.compile` of the repeated blocks equal to eager, and the mode choice."""

import pytest
import torch

from sgm.core.errors import SgmError
from sgm.pipelines.compiled import GraphedDenoiser, compile_repeated_blocks, resolve_mode

from .conftest import digits_engine  # noqa: TID252 -- the tiny engines of this folder


class EagerCapture:
    """Stands in for `cuda_graph_capture`: "replaying" runs the call over the static buffers again; counts
    captures."""

    def __init__(self):
        self.captures = 0

    def __call__(self, run):
        self.captures += 1
        return run


def affine_denoiser(x, sigma, cond):
    return x * sigma[:, None] + cond["vector"].sum()


def test_graphed_denoiser_copies_inputs_into_static_buffers_and_returns_copies():
    capture = EagerCapture()
    graphed = GraphedDenoiser(affine_denoiser, capture=capture)
    x, sigma, cond = torch.randn(2, 3), torch.tensor([1.0, 2.0]), {"vector": torch.ones(2, 4)}
    first = graphed(x, sigma, cond)
    torch.testing.assert_close(first, affine_denoiser(x, sigma, cond), rtol=0, atol=0)
    x2 = torch.randn(2, 3)
    second = graphed(x2, sigma * 3, {"vector": torch.zeros(2, 4)})  # same shapes: the same graph, new values
    torch.testing.assert_close(second, affine_denoiser(x2, sigma * 3, {"vector": torch.zeros(2, 4)}), rtol=0, atol=0)
    torch.testing.assert_close(first, affine_denoiser(x, sigma, cond), rtol=0, atol=0)  # not the static output
    assert capture.captures == 1
    x.mul_(0)  # the caller's tensors are copied in, never used as buffers
    graphed(torch.randn(4, 3), torch.ones(4), {"vector": torch.ones(4, 4)})  # a new batch: captured anew
    assert capture.captures == 2


def test_a_failed_capture_falls_back_to_eager_calls():
    def failing(run):
        raise RuntimeError("operation not permitted when stream is capturing")

    graphed = GraphedDenoiser(affine_denoiser, capture=failing)
    x, sigma, cond = torch.randn(2, 3), torch.tensor([1.0, 2.0]), {"vector": torch.ones(2, 4)}
    torch.testing.assert_close(graphed(x, sigma, cond), affine_denoiser(x, sigma, cond))
    assert graphed.eager and graphed(x, sigma, cond).shape == x.shape


def test_modes():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_mode(None, cpu) == resolve_mode("auto", cpu) == "none"
    assert resolve_mode("auto", cuda) == "graphs" and resolve_mode("compile", cpu) == "compile"
    with pytest.raises(SgmError, match="graphs needs a CUDA device"):
        resolve_mode("graphs", cpu)
    with pytest.raises(SgmError, match="compile must be one of"):
        resolve_mode("jit", cpu)


@pytest.mark.slow
def test_compiled_sampling_equals_eager(digits_pipeline):
    """torch.compile of the UNet's repeated blocks (inductor on the CPU) samples what eager sampling samples."""
    eager = digits_pipeline.sample_classes([3, 7], steps=2, seed=1).latents
    compiled = digits_engine()
    compiled.load_state_dict(digits_pipeline.engine.state_dict())
    pipeline = type(digits_pipeline)(compiled, name="tiny-digits", defaults=digits_pipeline.defaults, watermark=False)
    pipeline.sampling_mode = "compile"
    assert compile_repeated_blocks(compiled.model) == compile_repeated_blocks(compiled.model) > 0
    torch.testing.assert_close(pipeline.sample_classes([3, 7], steps=2, seed=1).latents, eager, rtol=1e-4, atol=1e-4)
