"""EMA math: the warm-up decay, the update rule, the swap-in scope and the reference's buffer names."""

import pytest
import torch
from torch import nn

from sgm.train.ema import LitEma


def _net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    net[1].bias.requires_grad_(False)
    return net


def test_buffer_names_follow_the_reference():
    ema = LitEma(_net())
    names = set(dict(ema.named_buffers()))
    assert names == {"decay", "num_updates", "0weight", "0bias", "1weight"}  # frozen bias not averaged


def test_update_with_warm_up_decay():
    net = _net()
    ema = LitEma(net, decay=0.99)
    start = net[0].weight.detach().clone()
    average = start.clone()
    for k in range(1, 4):
        with torch.no_grad():
            net[0].weight.add_(1.0)
        ema(net)
        d = min(0.99, (1 + k) / (10 + k))
        average = average - (1 - d) * (average - net[0].weight.detach())
        torch.testing.assert_close(ema.get_buffer("0weight"), average)
    assert int(ema.num_updates) == 3


def test_constant_decay_without_num_updates():
    net = _net()
    ema = LitEma(net, decay=0.5, use_num_updates=False)
    before = net[0].weight.detach().clone()
    with torch.no_grad():
        net[0].weight.add_(2.0)
    ema(net)
    torch.testing.assert_close(ema.get_buffer("0weight"), before + 1.0)
    assert int(ema.num_updates) == -1


def test_average_weights_scope_swaps_and_restores():
    net = _net()
    ema = LitEma(net, decay=0.9)
    trained = net[0].weight.detach().clone() + 5.0
    with torch.no_grad():
        net[0].weight.copy_(trained)
    with ema.average_weights(net):
        torch.testing.assert_close(net[0].weight, ema.get_buffer("0weight"))
    torch.testing.assert_close(net[0].weight, trained)


def test_state_dict_round_trip():
    net = _net()
    ema = LitEma(net)
    ema(net)
    other = LitEma(_net())
    other.load_state_dict(ema.state_dict())
    assert int(other.num_updates) == 1


def test_bad_decay():
    with pytest.raises(ValueError, match="between 0 and 1"):
        LitEma(_net(), decay=1.5)
