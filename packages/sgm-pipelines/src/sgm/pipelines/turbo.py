"""SDXL-Turbo / SD-Turbo sampling as the reference's `scripts/demo/turbo.py` does it.

Adversarial diffusion distillation (Sauer et al. 2023) trains the model at the timesteps 999, 899, 799, 699 of
the 1000-step DDPM schedule; 1 to 4 Euler-ancestral steps visit the first `n` of them, then 0. The demo draws its
noise from NumPy, `RandomState(seed)` for the start and `RandomState(seed + k)` for the k-th step's noise.
"""

from typing import Any

import numpy as np
import torch

from sgm.core.errors import SgmError

TURBO_DISCRETIZATION = "TurboSubstepDiscretization"
# Indices into the 1000-step schedule with its final zero appended (index 1000), as turbo.py's `steps_subset`.
TURBO_SUBSTEPS = (0, 100, 200, 300)


class TurboSubstepDiscretization:
    """The first `n` (1 to 4) of the distillation timesteps of a 1000-step `LegacyDDPMDiscretization`, then 0."""

    def __init__(self, discretization: Any):
        self.discretization = discretization

    @staticmethod
    def check_steps(n: int) -> None:
        if not 1 <= n <= len(TURBO_SUBSTEPS):
            raise SgmError(f"Turbo models sample in 1 to {len(TURBO_SUBSTEPS)} steps, got {n}")

    def __call__(self, n: int, do_append_zero: bool = True, device: Any = "cpu", flip: bool = False) -> torch.Tensor:
        self.check_steps(n)
        full = self.discretization(self.discretization.num_timesteps, do_append_zero=True, device=device)
        indices = [*TURBO_SUBSTEPS[:n], len(full) - 1] if do_append_zero else list(TURBO_SUBSTEPS[:n])
        sigmas = full[indices]
        return torch.flip(sigmas, (0,)) if flip else sigmas


def numpy_randn(shape: tuple[int, ...], seed: int, device: Any = "cpu", dtype: torch.dtype = torch.float32):
    """Standard normal noise from `numpy.random.RandomState(seed)` (float64 draws, then cast); NumPy seeds are
    32-bit, so larger ones wrap."""
    draws = np.random.RandomState(seed % 2**32).randn(*shape)
    return torch.from_numpy(draws).to(device=device, dtype=dtype)


class SeededNoise:
    """A sampler's `noise_sampler`: the k-th call returns `numpy_randn(x.shape, seed + k)`."""

    def __init__(self, seed: int):
        self.seed = seed

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.seed += 1
        return numpy_randn(tuple(x.shape), self.seed, device=x.device, dtype=x.dtype)
