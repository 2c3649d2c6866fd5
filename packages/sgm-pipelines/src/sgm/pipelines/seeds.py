"""One seed rule for every model: a whole number in [0, 2^32 - 1] (NumPy's seed range, which the Turbo models' noise
uses), or None for a fresh one; seeding as the reference's scripts do before they draw anything."""

import random
import secrets
from typing import Any

import numpy as np
import torch

from sgm.core.errors import SgmError

MAX_SEED = 2**32 - 1


def check_seed(seed: Any) -> int:
    """A seed in [0, 2^32 - 1]; None draws a fresh one."""
    if seed is None:
        return secrets.randbelow(MAX_SEED + 1)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed <= MAX_SEED:
        raise SgmError(f"seed must be a whole number from 0 to {MAX_SEED}, got {seed!r}")
    return int(seed)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (every device) as Lightning's `seed_everything`, which the reference calls."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
