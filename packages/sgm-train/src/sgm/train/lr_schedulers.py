"""Learning-rate multipliers per optimizer step, for `torch.optim.lr_scheduler.LambdaLR` (use with the base lr).

Same parameters and values as the reference's `sgm.lr_scheduler`: a linear warm-up from `start` to `max`, then a
cosine (or linear) decay towards `min`; the `...2` and linear variants repeat this over cycles given as lists.
"""

import logging
import math
from collections.abc import Sequence

logger = logging.getLogger(__name__)


def _warm_up(n: float, steps: float, start: float, peak: float) -> float:
    """Linear ramp from `start` at n = 0 to `peak` at n = steps."""
    return (peak - start) / steps * n + start


def _cosine(t: float, low: float, high: float) -> float:
    """Half a cosine from `high` at t = 0 to `low` at t = 1 (Loshchilov & Hutter 2017, eq. 5)."""
    return low + 0.5 * (high - low) * (1.0 + math.cos(t * math.pi))


class LambdaWarmUpCosineScheduler:
    """One warm-up of `warm_up_steps` from `lr_start` to `lr_max`, then cosine decay to `lr_min` at
    `max_decay_steps` (constant after that)."""

    def __init__(
        self,
        warm_up_steps: int,
        lr_min: float,
        lr_max: float,
        lr_start: float,
        max_decay_steps: int,
        verbosity_interval: int = 0,
    ):
        self.lr_warm_up_steps = warm_up_steps
        self.lr_start = lr_start
        self.lr_min = lr_min
        self.lr_max = lr_max
        self.lr_max_decay_steps = max_decay_steps
        self.verbosity_interval = verbosity_interval
        self.last_lr = 0.0

    def schedule(self, n: int, **kwargs) -> float:
        if self.verbosity_interval > 0 and n % self.verbosity_interval == 0:
            logger.info("step %d, last lr multiplier %g", n, self.last_lr)
        if n < self.lr_warm_up_steps:
            lr = _warm_up(n, self.lr_warm_up_steps, self.lr_start, self.lr_max)
        else:
            t = (n - self.lr_warm_up_steps) / (self.lr_max_decay_steps - self.lr_warm_up_steps)
            lr = _cosine(min(t, 1.0), self.lr_min, self.lr_max)
        self.last_lr = lr
        return lr

    def __call__(self, n: int, **kwargs) -> float:
        return self.schedule(n, **kwargs)


class LambdaWarmUpCosineScheduler2:
    """Cycles of warm-up then cosine decay: cycle i lasts `cycle_lengths[i]` steps, warms up over
    `warm_up_steps[i]` from `f_start[i]` to `f_max[i]` and decays to `f_min[i]`."""

    def __init__(
        self,
        warm_up_steps: Sequence[int],
        f_min: Sequence[float],
        f_max: Sequence[float],
        f_start: Sequence[float],
        cycle_lengths: Sequence[int],
        verbosity_interval: int = 0,
    ):
        lengths = {len(warm_up_steps), len(f_min), len(f_max), len(f_start), len(cycle_lengths)}
        if len(lengths) != 1:
            raise ValueError(
                "warm_up_steps, f_min, f_max, f_start and cycle_lengths must be lists of the same length (one entry "
                f"per cycle), got lengths {len(warm_up_steps)}, {len(f_min)}, {len(f_max)}, {len(f_start)}, "
                f"{len(cycle_lengths)}"
            )
        self.lr_warm_up_steps = list(warm_up_steps)
        self.f_start = list(f_start)
        self.f_min = list(f_min)
        self.f_max = list(f_max)
        self.cycle_lengths = list(cycle_lengths)
        self.cum_cycles = [0]
        for length in self.cycle_lengths:
            self.cum_cycles.append(self.cum_cycles[-1] + length)
        self.verbosity_interval = verbosity_interval
        self.last_f = 0.0

    def find_in_interval(self, n: int) -> int:
        """Index of the cycle that step `n` falls in (a cycle's last step is `n == cum_cycles[i + 1]`)."""
        for cycle, end in enumerate(self.cum_cycles[1:]):
            if n <= end:
                return cycle
        raise ValueError(f"step {n} is past the last cycle, which ends at step {self.cum_cycles[-1]}")

    def _in_cycle(self, n: int) -> tuple[int, int]:
        cycle = self.find_in_interval(n)
        n = n - self.cum_cycles[cycle]
        if self.verbosity_interval > 0 and n % self.verbosity_interval == 0:
            logger.info("step %d of cycle %d, last lr multiplier %g", n, cycle, self.last_f)
        return cycle, n

    def _decay(self, cycle: int, n: int) -> float:
        warm_up = self.lr_warm_up_steps[cycle]
        t = (n - warm_up) / (self.cycle_lengths[cycle] - warm_up)
        return _cosine(min(t, 1.0), self.f_min[cycle], self.f_max[cycle])

    def schedule(self, n: int, **kwargs) -> float:
        cycle, n = self._in_cycle(n)
        if n < self.lr_warm_up_steps[cycle]:
            f = _warm_up(n, self.lr_warm_up_steps[cycle], self.f_start[cycle], self.f_max[cycle])
        else:
            f = self._decay(cycle, n)
        self.last_f = f
        return f

    def __call__(self, n: int, **kwargs) -> float:
        return self.schedule(n, **kwargs)


class LambdaLinearScheduler(LambdaWarmUpCosineScheduler2):
    """As `LambdaWarmUpCosineScheduler2`, but after warm-up the multiplier falls linearly from `f_max` (at the
    cycle's start) towards `f_min` (at its end): f = f_min + (f_max - f_min) * (length - n) / length."""

    def _decay(self, cycle: int, n: int) -> float:
        length = self.cycle_lengths[cycle]
        return self.f_min[cycle] + (self.f_max[cycle] - self.f_min[cycle]) * (length - n) / length
