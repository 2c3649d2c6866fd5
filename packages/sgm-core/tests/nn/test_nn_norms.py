import pytest
import torch
import torch.nn.functional as F

from sgm.core.nn.norm import GroupNorm32, LayerNorm32, normalization


def _random_affine(module):
    with torch.no_grad():
        module.weight.normal_()
        module.bias.normal_()
    return module


def test_group_norm_keys_match_torch():
    assert list(normalization(64).state_dict()) == ["weight", "bias"]
    assert normalization(64).num_groups == 32 and normalization(64).eps == 1e-5


@pytest.mark.parametrize("activation", [None, "silu"])
def test_group_norm_is_groupnorm_then_activation(activation):
    norm = _random_affine(GroupNorm32(4, 8, activation=activation)).double()
    x = torch.randn(2, 8, 3, 5, dtype=torch.float64)
    expected = F.group_norm(x, 4, norm.weight, norm.bias, norm.eps)
    if activation:
        expected = F.silu(expected)
    torch.testing.assert_close(norm(x), expected)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_group_norm_half_inputs_are_normalised_in_fp32(dtype):
    norm = _random_affine(GroupNorm32(2, 4))
    x = (torch.randn(2, 4, 8, 8) * 50 + 300).to(dtype)  # a large mean: fp16 statistics would lose it
    out = norm.to(dtype)(x)
    assert out.dtype == dtype
    expected = F.group_norm(x.float(), 2, norm.weight.float(), norm.bias.float(), norm.eps).to(dtype)
    torch.testing.assert_close(out, expected, atol=0, rtol=0)


def test_group_norm_handles_video_layout():
    norm = GroupNorm32(2, 4).double()
    x = torch.randn(1, 4, 3, 2, 2, dtype=torch.float64)
    torch.testing.assert_close(norm(x), F.group_norm(x, 2, norm.weight, norm.bias, norm.eps))


def test_layer_norm_matches_torch_and_keeps_fp64():
    norm = _random_affine(LayerNorm32(6)).double()
    x = torch.randn(3, 4, 6, dtype=torch.float64)
    out = norm(x)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, F.layer_norm(x, (6,), norm.weight, norm.bias, norm.eps))
    assert list(norm.state_dict()) == ["weight", "bias"]
