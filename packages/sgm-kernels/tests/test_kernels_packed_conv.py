"""PackedConv2d against the nn.Conv2d it replaces: outputs, state dicts, packing and unpacking, refusals."""

import pytest
import torch
import torch.nn as nn

from sgm.kernels import PackedConv2d, pack_conv2d, unpack_conv2d
from sgm.kernels.packed_conv import can_pack

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="this torch has no oneDNN")

CONVS = {
    "3x3": dict(in_channels=8, out_channels=16, kernel_size=3, padding=1),
    "1x1 no bias": dict(in_channels=16, out_channels=8, kernel_size=1, bias=False),
    "stride 2": dict(in_channels=8, out_channels=8, kernel_size=3, stride=2, padding=1),
    "groups, dilation": dict(in_channels=8, out_channels=8, kernel_size=3, padding=2, dilation=2, groups=4),
}


def _conv(name: str) -> nn.Conv2d:
    torch.manual_seed(0)
    return nn.Conv2d(**CONVS[name]).eval()


@pytest.mark.parametrize("name", list(CONVS))
def test_outputs_equal_the_plain_convolution_in_both_layouts_and_after_a_size_change(name):
    conv = _conv(name)
    packed = PackedConv2d(conv)
    gen = torch.Generator().manual_seed(1)
    shapes = ((2, conv.in_channels, 12, 12), (1, conv.in_channels, 7, 9))
    inputs = [torch.randn(shape, generator=gen) for shape in shapes]
    with torch.no_grad():
        for x in inputs + [x.contiguous(memory_format=torch.channels_last) for x in inputs] + inputs[:1]:
            torch.testing.assert_close(packed(x), conv(x), atol=1e-5, rtol=1e-5)
    assert packed._blocked_for == ((2, conv.in_channels, 12, 12), False)  # re-blocked for the last input


def test_state_dict_is_the_plain_convolutions_and_loads_back():
    conv = _conv("3x3")
    packed = PackedConv2d(conv)
    state = packed.state_dict()
    assert state.keys() == conv.state_dict().keys()
    assert all(torch.equal(state[key], value) for key, value in conv.state_dict().items())
    assert [name for name, _ in packed.named_parameters()] == ["bias"]  # the weight is held only blocked

    other = nn.Conv2d(**CONVS["3x3"]).eval()
    result = packed.load_state_dict(other.state_dict())
    assert not result.missing_keys and not result.unexpected_keys
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(packed(x), other(x), atol=1e-5, rtol=1e-5)


def test_load_state_dict_reports_a_missing_or_misshapen_weight():
    packed = PackedConv2d(_conv("3x3"))
    result = packed.load_state_dict({"bias": torch.zeros(16)}, strict=False)
    assert result.missing_keys == ["weight"]
    with pytest.raises(RuntimeError, match=r"size mismatch for weight: \(16, 8, 1, 1\)"):
        packed.load_state_dict({"weight": torch.zeros(16, 8, 1, 1), "bias": torch.zeros(16)})


def test_pack_and_unpack_swap_every_packable_convolution_in_place():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.SiLU(), nn.Sequential(nn.Conv2d(8, 8, 1), nn.Conv2d(8, 4, 3, padding="same"))
    ).eval()
    x = torch.randn(1, 3, 10, 10)
    with torch.no_grad():
        expected = model(x)
        state = {key: value.clone() for key, value in model.state_dict().items()}
        assert pack_conv2d(model) == 2  # padding="same" stays a plain nn.Conv2d
        assert isinstance(model[0], PackedConv2d) and isinstance(model[2][0], PackedConv2d)
        assert type(model[2][1]) is nn.Conv2d
        torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=1e-5)
        assert unpack_conv2d(model) == 2
    assert all(type(m) is nn.Conv2d for m in model.modules() if "Conv" in type(m).__name__)
    assert all(torch.equal(model.state_dict()[key], value) for key, value in state.items())
    model(x).sum().backward()  # trainable again
    assert model[0].weight.grad is not None


def test_inference_only_and_only_fp32_cpu_convolutions():
    packed = PackedConv2d(_conv("3x3"))
    with pytest.raises(RuntimeError, match="under torch.no_grad"):
        packed(torch.randn(1, 8, 4, 4))
    with torch.no_grad(), pytest.raises(RuntimeError, match="unpack_conv2d"):
        packed(torch.randn(1, 8, 4, 4, dtype=torch.float64))
    assert not can_pack(_conv("3x3").double()) and not can_pack(_conv("3x3").half())
    assert not can_pack(nn.Conv1d(2, 2, 3)) and not can_pack(nn.Conv2d(2, 2, 3, padding_mode="reflect"))
    with pytest.raises(ValueError, match="CPU fp32 nn.Conv2d"):
        PackedConv2d(_conv("3x3").double())
