import math

import pytest
import torch

from sgm.core.nn.timestep import Timestep, timestep_embedding


def test_matches_the_closed_form():
    t = torch.tensor([0.0, 1.0, 7.5, 999.0], dtype=torch.float64)
    dim, period = 6, 10000
    emb = timestep_embedding(t, dim, max_period=period)
    for n, tn in enumerate(t.tolist()):
        freqs = [period ** (-i / (dim // 2)) for i in range(dim // 2)]
        expected = [math.cos(tn * f) for f in freqs] + [math.sin(tn * f) for f in freqs]
        torch.testing.assert_close(emb[n], torch.tensor(expected, dtype=torch.float64))


def test_odd_dim_gets_a_zero_column():
    emb = timestep_embedding(torch.tensor([3.0, 4.0]), 7)
    assert emb.shape == (2, 7)
    assert torch.all(emb[:, -1] == 0)


@pytest.mark.parametrize(
    "dtype, expected",
    [
        (torch.int64, torch.float32),
        (torch.float16, torch.float32),
        (torch.bfloat16, torch.float32),
        (torch.float32, torch.float32),
        (torch.float64, torch.float64),
    ],
)
def test_computes_in_at_least_fp32(dtype, expected):
    t = torch.tensor([0, 10, 999]).to(dtype)
    emb = timestep_embedding(t, 8)
    assert emb.dtype == expected
    torch.testing.assert_close(emb.double(), timestep_embedding(t.double(), 8), atol=1e-5, rtol=0)


def test_repeat_only_repeats():
    t = torch.tensor([2.0, 5.0])
    assert torch.equal(timestep_embedding(t, 3, repeat_only=True), torch.tensor([[2.0] * 3, [5.0] * 3]))


def test_module_wraps_the_function():
    t = torch.tensor([1.0, 2.0])
    assert torch.equal(Timestep(10)(t), timestep_embedding(t, 10))
