"""The text encoders in half precision and fp64: LayerNorms through sgm.kernels (statistics in at least fp32),
the same state-dict keys, and half outputs close to fp32 ones."""

import pytest
import torch
from sgm.conditioners.clip_text import FrozenCLIPEmbedder
from sgm.conditioners.norms import KernelLayerNorm
from sgm.conditioners.open_clip_text import FrozenOpenCLIPEmbedder, FrozenOpenCLIPEmbedder2
from sgm.kernels import use_backend
from torch import nn

PROMPTS = ["a photo of a cat", "a red cube on a table"]


def _embedders(tiny_open_clip, tiny_clip_text) -> dict:
    torch.manual_seed(0)
    return {
        "clip": FrozenCLIPEmbedder(version=tiny_clip_text, layer="hidden", layer_idx=-2, always_return_pooled=True),
        "open_clip": FrozenOpenCLIPEmbedder(arch=tiny_open_clip, layer="penultimate"),
        "open_clip2": FrozenOpenCLIPEmbedder2(arch=tiny_open_clip, layer="penultimate", always_return_pooled=True,
                                              legacy=False),
    }  # fmt: skip


def _outputs(embedder) -> list[torch.Tensor]:
    out = embedder(PROMPTS)
    return list(out) if isinstance(out, tuple) else [out]


def test_every_layer_norm_is_a_kernel_layer_norm(tiny_open_clip, tiny_clip_text):
    for embedder in _embedders(tiny_open_clip, tiny_clip_text).values():
        norms = [module for module in embedder.modules() if isinstance(module, nn.LayerNorm)]
        assert norms and all(type(module) is KernelLayerNorm for module in norms)


def test_kernel_layer_norm_is_torchs_in_fp32_and_upcasts_half():
    torch.manual_seed(0)
    norm = KernelLayerNorm(24)
    nn.init.normal_(norm.weight)
    nn.init.normal_(norm.bias)
    x = torch.randn(3, 5, 24) * 50 + 300  # a large mean: half-precision statistics would lose the signal
    torch.testing.assert_close(norm(x), nn.functional.layer_norm(x, (24,), norm.weight, norm.bias, norm.eps))
    expected = nn.functional.layer_norm(x.half().float(), (24,), norm.weight.half().float(), norm.bias.half().float())
    half = norm.half()(x.half())
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.float(), expected.half().float(), atol=0, rtol=0)  # one rounding at the end
    assert norm.double()(x.double()).dtype == torch.float64


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_encoders_run_in_each_dtype_close_to_fp32(tiny_open_clip, tiny_clip_text, dtype):
    tolerance = {torch.float16: 2e-2, torch.bfloat16: 1e-1, torch.float64: 1e-5}[dtype]
    for name, embedder in _embedders(tiny_open_clip, tiny_clip_text).items():
        with use_backend("math"):  # the textbook kernels: the comparison measures precision only
            expected = _outputs(embedder)
            outputs = _outputs(embedder.to(dtype))
        for output, reference in zip(outputs, expected, strict=True):
            assert output.dtype == dtype, name
            torch.testing.assert_close(output.double(), reference.double(), atol=tolerance, rtol=tolerance, msg=name)
