"""Noise schedules: a discretization turns a step count `n` into `n` decreasing sigmas, then a final 0.

`discretization(n, do_append_zero=True, device="cpu", flip=False)` returns float32 sigmas, largest first (smallest
first with `flip=True`). The two reference schedules (`EDMDiscretization`, `LegacyDDPMDiscretization`) compute
their sigmas with the reference's operations in the reference's order, so a seed gives the reference's sample.
"""

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from sgm.core.config import instantiate
from sgm.core.diffusion.tensor_shapes import append_zero

DeviceLike = str | torch.device


def roughly_equally_spaced_steps(num_substeps: int, max_step: int) -> np.ndarray:
    """`num_substeps` integer timesteps in [0, max_step), ascending, the largest being `max_step - 1`."""
    return np.linspace(max_step - 1, 0, num_substeps, endpoint=False).astype(int)[::-1]


def ddpm_alphas_cumprod(linear_start: float, linear_end: float, num_timesteps: int) -> np.ndarray:
    """alpha-bar_t = prod_{s<=t} (1 - beta_s) for the "linear" schedule of latent diffusion (float64).

    The betas are linear in sqrt(beta): linspace(sqrt(start), sqrt(end)) squared (Rombach et al. 2022).
    """
    betas = torch.linspace(linear_start**0.5, linear_end**0.5, num_timesteps, dtype=torch.float64) ** 2
    return np.cumprod(1.0 - betas.numpy(), axis=0)


def sigmas_from_alphas_cumprod(alphas_cumprod: np.ndarray, device: DeviceLike = "cpu") -> torch.Tensor:
    """sigma_t = sqrt((1 - alpha-bar_t) / alpha-bar_t), the VP-to-VE change of variables (float32, same order)."""
    ratio = torch.tensor((1 - alphas_cumprod) / alphas_cumprod, dtype=torch.float32, device=device)
    return ratio**0.5


def karras_sigmas(n: int, sigma_min: float, sigma_max: float, rho: float, device: DeviceLike = "cpu") -> torch.Tensor:
    """sigma_i = (sigma_max^(1/rho) + i/(n-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho (Karras et al. 2022, eq. 5)."""
    ramp = torch.linspace(0, 1, n, device=device)
    min_inv_rho = sigma_min ** (1 / rho)
    max_inv_rho = sigma_max ** (1 / rho)
    return (max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho


def _check_step_count(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"number of sampling steps must be a positive integer, got {n!r}")
    return int(n)


class Discretization(ABC):
    """A noise schedule; subclasses give `get_sigmas(n, device)` (n sigmas, largest first)."""

    def __call__(
        self, n: int, do_append_zero: bool = True, device: DeviceLike = "cpu", flip: bool = False
    ) -> torch.Tensor:
        sigmas = self.get_sigmas(_check_step_count(n), device=device)
        if do_append_zero:
            sigmas = append_zero(sigmas)
        return torch.flip(sigmas, (0,)) if flip else sigmas

    @abstractmethod
    def get_sigmas(self, n: int, device: DeviceLike = "cpu") -> torch.Tensor:
        """`n` sigmas, largest first, without the final zero."""


class EDMDiscretization(Discretization):
    """The schedule of Karras et al. 2022 (EDM) between `sigma_min` and `sigma_max`, warped by `rho`."""

    def __init__(self, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0):
        if not 0 < sigma_min < sigma_max:
            raise ValueError(f"EDMDiscretization needs 0 < sigma_min < sigma_max, got {sigma_min} and {sigma_max}")
        self.sigma_min = sigma_min
        self.sigma_max = sigma_max
        self.rho = rho

    def get_sigmas(self, n: int, device: DeviceLike = "cpu") -> torch.Tensor:
        return karras_sigmas(n, self.sigma_min, self.sigma_max, self.rho, device)


class LegacyDDPMDiscretization(Discretization):
    """The discrete schedule of SD 1.x/2.x and SDXL: `n` of its `num_timesteps` sigmas, roughly evenly spaced."""

    def __init__(self, linear_start: float = 0.00085, linear_end: float = 0.0120, num_timesteps: int = 1000):
        self.num_timesteps = num_timesteps
        self.alphas_cumprod = ddpm_alphas_cumprod(linear_start, linear_end, num_timesteps)

    def get_sigmas(self, n: int, device: DeviceLike = "cpu") -> torch.Tensor:
        if n > self.num_timesteps:
            raise ValueError(
                f"a {self.num_timesteps}-timestep DDPM schedule has at most {self.num_timesteps} steps, got {n}"
            )
        if n < self.num_timesteps:
            alphas_cumprod = self.alphas_cumprod[roughly_equally_spaced_steps(n, self.num_timesteps)]
        else:
            alphas_cumprod = self.alphas_cumprod
        return torch.flip(sigmas_from_alphas_cumprod(alphas_cumprod, device), (0,))


class DiscreteModelRange(Discretization):
    """Base for schedules spanning a discrete model's sigma range: `sigma_min`/`sigma_max` default to the
    smallest and largest sigma of the DDPM schedule given by `linear_start`, `linear_end`, `num_timesteps`."""

    def __init__(
        self,
        sigma_min: float | None = None,
        sigma_max: float | None = None,
        linear_start: float = 0.00085,
        linear_end: float = 0.0120,
        num_timesteps: int = 1000,
    ):
        model_sigmas = sigmas_from_alphas_cumprod(ddpm_alphas_cumprod(linear_start, linear_end, num_timesteps))
        self.sigma_min = float(model_sigmas[0]) if sigma_min is None else sigma_min
        self.sigma_max = float(model_sigmas[-1]) if sigma_max is None else sigma_max
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError(
                f"{type(self).__name__} needs 0 < sigma_min < sigma_max, got {self.sigma_min}, {self.sigma_max}"
            )


class KarrasDiscretization(DiscreteModelRange):
    """The EDM schedule (rho-warped) over a discrete model's sigma range: "Karras" in k-diffusion front ends."""

    def __init__(self, rho: float = 7.0, **range_kwargs: Any):
        super().__init__(**range_kwargs)
        self.rho = rho

    def get_sigmas(self, n: int, device: DeviceLike = "cpu") -> torch.Tensor:
        return karras_sigmas(n, self.sigma_min, self.sigma_max, self.rho, device)


class ExponentialDiscretization(DiscreteModelRange):
    """Sigmas evenly spaced in log sigma from sigma_max to sigma_min (k-diffusion's `get_sigmas_exponential`)."""

    def get_sigmas(self, n: int, device: DeviceLike = "cpu") -> torch.Tensor:
        return torch.linspace(math.log(self.sigma_max), math.log(self.sigma_min), n, device=device).exp()


class DiscreteTimestepSchedule(Discretization):
    """Base for schedules that pick (fractional) timesteps of a discrete DDPM model, largest first, and read sigma
    there, log sigma being linear between integer timesteps (ComfyUI's `ModelSamplingDiscrete.sigma`, k-diffusion's
    `DiscreteSchedule.t_to_sigma`); subclasses give `timesteps(n)`."""

    def __init__(self, linear_start: float = 0.00085, linear_end: float = 0.0120, num_timesteps: int = 1000):
        self.num_timesteps = num_timesteps
        alphas_cumprod = ddpm_alphas_cumprod(linear_start, linear_end, num_timesteps)
        self.log_sigmas = np.log(sigmas_from_alphas_cumprod(alphas_cumprod).double().numpy())

    @abstractmethod
    def timesteps(self, n: int) -> np.ndarray:
        """`n` timesteps in [0, num_timesteps - 1], largest first."""

    def get_sigmas(self, n: int, device: DeviceLike = "cpu") -> torch.Tensor:
        log_sigmas = np.interp(self.timesteps(n), np.arange(self.num_timesteps), self.log_sigmas)
        return torch.tensor(np.exp(log_sigmas), dtype=torch.float32, device=device)


class SGMUniformDiscretization(DiscreteTimestepSchedule):
    """Timesteps evenly spaced from T-1 down to (but excluding) 0: ComfyUI's "sgm_uniform" scheduler, made for
    SDXL-Turbo. Same definition as ComfyUI's; the values agree to float32 rounding (ComfyUI interpolates in float32)."""

    def timesteps(self, n: int) -> np.ndarray:
        return np.linspace(self.num_timesteps - 1, 0, n + 1)[:-1]


class NormalDiscretization(DiscreteTimestepSchedule):
    """Timesteps evenly spaced from T-1 down to 0, both included, so the sigmas run from the model's largest to its
    smallest: ComfyUI's "normal" scheduler (its default), the same as AUTOMATIC1111's "Uniform"."""

    def timesteps(self, n: int) -> np.ndarray:
        return np.linspace(self.num_timesteps - 1, 0, n)


def _as_discretization(discretization: Discretization | Mapping) -> Discretization:
    return instantiate(discretization) if isinstance(discretization, Mapping) else discretization


def _check_strength(strength: float) -> float:
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be between 0.0 and 1.0, got {strength}")
    return strength


class Img2ImgDiscretizationWrapper:
    """Keeps the smallest `strength` fraction of a schedule's sigmas (at least one), for image-to-image sampling.

    `strength=1.0` keeps every sigma (sampling from pure noise); smaller values start from a less noisy image.
    """

    def __init__(self, discretization: Discretization | Mapping, strength: float = 1.0):
        self.discretization = _as_discretization(discretization)
        self.strength = _check_strength(strength)

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        ascending = torch.flip(self.discretization(*args, **kwargs), (0,))
        kept = ascending[: max(int(self.strength * len(ascending)), 1)]
        return torch.flip(kept, (0,))


class Txt2NoisyDiscretizationWrapper:
    """Drops the smallest sigmas of a schedule so that sampling stops at a noisy latent: the SDXL base model
    samples the first `1 - strength` of the way and hands the latent to the refiner, which continues with
    `Img2ImgDiscretizationWrapper`. `strength=0.0` keeps every sigma; `original_steps` is the step count the
    handoff point is measured in (default: this schedule's length).
    """

    def __init__(
        self, discretization: Discretization | Mapping, strength: float = 0.0, original_steps: int | None = None
    ):
        self.discretization = _as_discretization(discretization)
        self.strength = _check_strength(strength)
        self.original_steps = original_steps

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        ascending = torch.flip(self.discretization(*args, **kwargs), (0,))
        steps = len(ascending) if self.original_steps is None else self.original_steps + 1
        prune_index = max(min(int(self.strength * steps) - 1, steps - 1), 0)
        return torch.flip(ascending[prune_index:], (0,))


class DiscardPenultimateSigmaWrapper(Discretization):
    """`n` steps cut from the schedule's `n + 1` by dropping its smallest non-zero sigma, so the last step jumps from
    the next larger one to 0: how ComfyUI and AUTOMATIC1111 schedule DPM2 and DPM2 a (whose step to 0 is Euler)."""

    def __init__(self, discretization: Discretization | Mapping):
        self.discretization = _as_discretization(discretization)

    def get_sigmas(self, n: int, device: DeviceLike = "cpu") -> torch.Tensor:
        return self.discretization(n + 1, do_append_zero=False, device=device)[:-1]
