"""PackedConv2d and PackedLinear against the modules they replace: outputs, state dicts, packing, refusals."""

import pytest
import torch
import torch.nn as nn

from sgm.kernels import PackedConv2d, PackedLinear, pack_weights, unpack_weights
from sgm.kernels.packed import can_pack

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="this torch has no oneDNN")

CONVS = {
    "3x3": {"in_channels": 8, "out_channels": 16, "kernel_size": 3, "padding": 1},
    "1x1 no bias": {"in_channels": 16, "out_channels": 8, "kernel_size": 1, "bias": False},
    "stride 2": {"in_channels": 8, "out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1},
    "groups, dilation": {
        "in_channels": 8, "out_channels": 8, "kernel_size": 3, "padding": 2, "dilation": 2, "groups": 4
    },  # fmt: skip
}


def _conv(name: str) -> nn.Conv2d:
    torch.manual_seed(0)
    return nn.Conv2d(**CONVS[name]).eval()


def _linear(bias: bool = True) -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(12, 20, bias=bias).eval()


@pytest.mark.parametrize("name", list(CONVS))
def test_conv_outputs_equal_the_plain_convolution_in_both_layouts_and_after_a_size_change(name):
    conv = _conv(name)
    packed = PackedConv2d(conv)
    gen = torch.Generator().manual_seed(1)
    shapes = ((2, conv.in_channels, 12, 12), (1, conv.in_channels, 7, 9))
    inputs = [torch.randn(shape, generator=gen) for shape in shapes]
    with torch.no_grad():
        for x in inputs + [x.contiguous(memory_format=torch.channels_last) for x in inputs] + inputs[:1]:
            torch.testing.assert_close(packed(x), conv(x), atol=1e-5, rtol=1e-5)
    assert packed._blocked_for == ((2, conv.in_channels, 12, 12), False)  # re-blocked for the last input


@pytest.mark.parametrize("bias", [True, False])
def test_linear_outputs_equal_the_plain_linear_for_any_rows_and_strides(bias):
    linear = _linear(bias)
    packed = PackedLinear(linear)
    gen = torch.Generator().manual_seed(1)
    inputs = [torch.randn(2, 5, 12, generator=gen), torch.randn(7, 12, generator=gen)]
    inputs.append(torch.randn(12, 9, generator=gen).t())  # a transposed view
    with torch.no_grad():
        for x in [*inputs, inputs[0]]:
            torch.testing.assert_close(packed(x), linear(x), atol=1e-5, rtol=1e-5)
    assert packed._blocked_for == (10,)


@pytest.mark.parametrize("make", [lambda: _conv("3x3"), _linear], ids=["conv", "linear"])
def test_state_dict_is_the_plain_modules_and_loads_back(make):
    plain = make()
    packed = PackedConv2d(plain) if isinstance(plain, nn.Conv2d) else PackedLinear(plain)
    state = packed.state_dict()
    assert state.keys() == plain.state_dict().keys()
    assert all(torch.equal(state[key], value) for key, value in plain.state_dict().items())
    assert [name for name, _ in packed.named_parameters()] == ["bias"]  # the weight is held only blocked

    torch.manual_seed(5)
    other = nn.Conv2d(**CONVS["3x3"]).eval() if isinstance(plain, nn.Conv2d) else nn.Linear(12, 20).eval()
    result = packed.load_state_dict(other.state_dict())
    assert not result.missing_keys and not result.unexpected_keys
    x = torch.randn(2, 8, 6, 6) if isinstance(plain, nn.Conv2d) else torch.randn(3, 12)
    with torch.no_grad():
        torch.testing.assert_close(packed(x), other(x), atol=1e-5, rtol=1e-5)


def test_load_state_dict_reports_a_missing_or_misshapen_weight():
    packed = PackedConv2d(_conv("3x3"))
    result = packed.load_state_dict({"bias": torch.zeros(16)}, strict=False)
    assert result.missing_keys == ["weight"]
    with pytest.raises(RuntimeError, match=r"size mismatch for weight: \(16, 8, 1, 1\)"):
        packed.load_state_dict({"weight": torch.zeros(16, 8, 1, 1), "bias": torch.zeros(16)})


def test_pack_and_unpack_swap_every_packable_module_in_place():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.SiLU(),
        nn.Sequential(nn.Conv2d(8, 8, 1), nn.Conv2d(8, 4, 3, padding="same")),
        nn.Flatten(),
        nn.Linear(400, 6),
    ).eval()
    x = torch.randn(2, 3, 10, 10)
    with torch.no_grad():
        expected = model(x)
        state = {key: value.clone() for key, value in model.state_dict().items()}
        assert pack_weights(model) == 3  # padding="same" stays a plain nn.Conv2d
        assert isinstance(model[0], PackedConv2d) and isinstance(model[2][0], PackedConv2d)
        assert type(model[2][1]) is nn.Conv2d and isinstance(model[4], PackedLinear)
        torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=1e-5)
        assert unpack_weights(model) == 3
    assert [type(m) for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)] == [nn.Conv2d] * 3 + [nn.Linear]
    assert all(torch.equal(model.state_dict()[key], value) for key, value in state.items())
    model(x).sum().backward()  # trainable again
    assert model[0].weight.grad is not None and model[4].weight.grad is not None


def test_inference_only_and_only_fp32_cpu_modules():
    packed = PackedConv2d(_conv("3x3"))
    with pytest.raises(RuntimeError, match="under torch.no_grad"):
        packed(torch.randn(1, 8, 4, 4))
    with torch.no_grad(), pytest.raises(RuntimeError, match="unpack_weights"):
        PackedLinear(_linear())(torch.randn(1, 12, dtype=torch.float64))
    assert not can_pack(_conv("3x3").double()) and not can_pack(_linear().half())
    assert not can_pack(nn.Conv1d(2, 2, 3)) and not can_pack(nn.Conv2d(2, 2, 3, padding_mode="reflect"))
    assert not can_pack(nn.modules.linear.NonDynamicallyQuantizableLinear(2, 2))  # subclasses stay as they are
    with pytest.raises(ValueError, match="CPU fp32 Conv2d"):
        PackedConv2d(_conv("3x3").double())
