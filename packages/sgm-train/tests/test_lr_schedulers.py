"""LR multipliers against their closed forms."""

import math

import pytest
import torch

from sgm.core.config import instantiate
from sgm.train.lr_schedulers import LambdaLinearScheduler, LambdaWarmUpCosineScheduler, LambdaWarmUpCosineScheduler2


def test_warm_up_cosine_closed_form():
    s = LambdaWarmUpCosineScheduler(warm_up_steps=10, lr_min=0.1, lr_max=1.0, lr_start=0.0, max_decay_steps=110)
    assert s(0) == 0.0
    assert s(5) == pytest.approx(0.5)
    assert s(10) == pytest.approx(1.0)  # cosine starts at its peak
    assert s(60) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi / 2)))
    assert s(110) == pytest.approx(0.1)
    assert s(10_000) == pytest.approx(0.1)  # held at lr_min after the decay


def test_cosine2_cycles_restart():
    s = LambdaWarmUpCosineScheduler2(
        warm_up_steps=[2, 4], f_min=[0.0, 0.5], f_max=[1.0, 2.0], f_start=[0.0, 1.0], cycle_lengths=[10, 20]
    )
    assert s(1) == pytest.approx(0.5)
    assert s(6) == pytest.approx(0.5 * (1 + math.cos(0.5 * math.pi)))
    assert s(10) == pytest.approx(0.0)  # the last step of cycle 0 belongs to cycle 0
    assert s(11) == pytest.approx((2.0 - 1.0) / 4 * 1 + 1.0)  # step 1 of cycle 1
    assert s(30) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="past the last cycle"):
        s(31)


def test_linear_scheduler_as_sdxl_configs_use_it():
    s = LambdaLinearScheduler(warm_up_steps=[100], f_min=[0.0], f_max=[1.0], f_start=[1e-6], cycle_lengths=[1000])
    assert s(0) == pytest.approx(1e-6)
    assert s(50) == pytest.approx((1.0 - 1e-6) / 100 * 50 + 1e-6)
    assert s(100) == pytest.approx(0.9)  # (length - n) / length: the decay counts from the cycle start
    assert s(1000) == pytest.approx(0.0)


def test_mismatched_cycle_lists_are_a_clear_error():
    with pytest.raises(ValueError, match="same length"):
        LambdaLinearScheduler(warm_up_steps=[1], f_min=[0.0, 0.0], f_max=[1.0], f_start=[0.0], cycle_lengths=[5])


def test_reference_target_drives_lambda_lr():
    schedule = instantiate(
        {
            "target": "sgm.lr_scheduler.LambdaLinearScheduler",
            "params": {
                "warm_up_steps": [4],
                "cycle_lengths": [10**13],
                "f_start": [0.0],
                "f_max": [1.0],
                "f_min": [1.0],
            },
        }
    )
    param = torch.nn.Parameter(torch.zeros(()))
    optimizer = torch.optim.SGD([param], lr=0.2)
    lr_schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=schedule.schedule)
    lrs = []
    for _ in range(6):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        lr_schedule.step()
    assert lrs == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2, 0.2])
