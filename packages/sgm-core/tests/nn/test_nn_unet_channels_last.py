"""The CPU inference path `sgm.core.inference.optimize_for_inference` gives a UNetModel (channels-last tensors and conv
weights, packed weights) against the plain contiguous one."""

import pytest
import safetensors.torch
import torch

from sgm.core.inference import optimize_for_inference
from sgm.core.inference.optimize import run_channels_last
from sgm.core.nn.unet import UNetModel
from sgm.kernels import pack_weights

CONTEXT = 16
CONFIGS = {
    # SD 2.1 / SDXL-like: linear transformer projections, class vector, several blocks per level
    "linear": dict(
        in_channels=4, out_channels=4, model_channels=32, num_res_blocks=2, channel_mult=[1, 2],
        attention_resolutions=[2, 1], num_head_channels=8, use_linear_in_transformer=True, transformer_depth=2,
        context_dim=CONTEXT, num_classes="sequential", adm_in_channels=12,
    ),
    # conv projections, FiLM, ResBlock up/down
    "conv": dict(
        in_channels=4, out_channels=4, model_channels=32, num_res_blocks=1, channel_mult=[1, 2],
        attention_resolutions=[1, 2], num_heads=2, context_dim=CONTEXT, use_scale_shift_norm=True,
        resblock_updown=True,
    ),
}  # fmt: skip


def _model(name: str, dtype: torch.dtype = torch.float32) -> UNetModel:
    torch.manual_seed(0)
    model = UNetModel(**CONFIGS[name])
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.1)  # no zero-initialised layers: every layer changes the output
    return model.to(dtype).eval()


def _inputs(name: str, dtype: torch.dtype = torch.float32):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 16, 16, generator=gen, dtype=dtype)
    t = torch.tensor([3, 901])
    context = torch.randn(2, 5, CONTEXT, generator=gen, dtype=dtype)
    y = torch.randn(2, 12, generator=gen, dtype=dtype) if CONFIGS[name].get("num_classes") else None
    return x, t, context, y


def _conv_weights(model: UNetModel) -> list[torch.Tensor]:
    return [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_inference_path_equals_the_contiguous_path(name, dtype, tol):
    model = _model(name, dtype)
    x, t, context, y = _inputs(name, dtype)
    plain = model(x, t, context, y)  # gradients on: the contiguous path
    assert all(w.is_contiguous() for w in _conv_weights(model))
    assert run_channels_last(model)
    with torch.no_grad():
        fast = model(x, t, context, y)
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in _conv_weights(model))
    assert fast.dtype == dtype and fast.is_contiguous()
    torch.testing.assert_close(fast, plain.detach(), atol=tol, rtol=tol)


def test_channels_last_and_contiguous_inputs_give_the_same_output():
    model = _model("linear")
    run_channels_last(model)
    x, t, context, y = _inputs("linear")
    with torch.no_grad():
        a = model(x, t, context, y)
        b = model(x.contiguous(memory_format=torch.channels_last), t, context, y)
    torch.testing.assert_close(a, b, atol=0, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inference_runs(dtype):
    model = _model("conv", dtype)
    x, t, context, y = _inputs("conv", dtype)
    with torch.no_grad():
        fast = model(x, t, context, y)
    plain = model.float()(x.float(), t, context.float(), y).detach()
    assert fast.dtype == dtype and torch.isfinite(fast).all()
    torch.testing.assert_close(fast.float(), plain, atol=0.1, rtol=0.1)


def test_state_dict_stays_contiguous_and_round_trips():
    model = _model("linear")
    run_channels_last(model)
    x, t, context, y = _inputs("linear")
    with torch.no_grad():
        before = model(x, t, context, y)
    state = model.state_dict()
    assert all(v.is_contiguous() for v in state.values())
    restored = UNetModel(**CONFIGS["linear"]).eval()
    run_channels_last(restored)
    restored.load_state_dict(safetensors.torch.load(safetensors.torch.save(state)))
    with torch.no_grad():
        torch.testing.assert_close(restored(x, t, context, y), before, atol=0, rtol=0)


def test_training_keeps_the_contiguous_layout():
    model = _model("conv")
    x, t, context, y = _inputs("conv")
    model(x, t, context, y).square().mean().backward()
    assert all(w.is_contiguous() and w.grad.is_contiguous() for w in _conv_weights(model))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_packed_weights_give_the_same_output_and_state(name):
    model = _model(name)
    x, t, context, y = _inputs(name)
    packable = sum(type(m) in (torch.nn.Conv2d, torch.nn.Linear) for m in model.modules())
    with torch.no_grad():
        expected = model(x, t, context, y)
        state = {key: value.clone() for key, value in model.state_dict().items()}
        assert pack_weights(model) == packable
        torch.testing.assert_close(model(x, t, context, y), expected, atol=1e-5, rtol=1e-5)
    packed_state = model.state_dict()  # each call unblocks every weight: once
    assert packed_state.keys() == state.keys()
    assert all(torch.equal(packed_state[key], value) for key, value in state.items())


@pytest.mark.parametrize("name", list(CONFIGS))
def test_optimize_for_inference_keeps_the_outputs(name):
    model = _model(name)
    x, t, context, y = _inputs(name)
    with torch.no_grad():
        expected = model(x, t, context, y)
        assert optimize_for_inference(model, "cpu") is model and not model.training
        torch.testing.assert_close(model(x, t, context, y), expected, atol=1e-5, rtol=1e-5)
