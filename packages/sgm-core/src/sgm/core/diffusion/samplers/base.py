"""The sampler interface: `sampler(denoiser, x, cond, uc=None, num_steps=None)` turns unit Gaussian noise `x` into a
sample, where `denoiser(x, sigma, cond, **extra)` estimates the clean signal (the engine closes over its network)."""

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from tqdm import tqdm

from sgm.core.config import instantiate

DEFAULT_GUIDER = {"target": "sgm.core.diffusion.guiders.IdentityGuider"}

# callback(i, total): called before step i of `total` and once more with i == total when the last step is done (the
# idea of k-diffusion's per-step callback); it may raise to stop sampling.
StepCallback = Callable[[int, int], None]


class BaseDiffusionSampler:
    """Shared set-up of every sampler.

    discretization_config: the noise schedule; num_steps: default step count (a call may override it);
    guider_config: the guidance (default: none); verbose: print the sampler set-up before sampling;
    device: where the sigmas are computed (default: the device of `x`); progress: show a tqdm bar on a terminal;
    callback: a `StepCallback` told of every step (also settable afterwards as `sampler.callback`).
    """

    def __init__(
        self,
        discretization_config: Mapping,
        num_steps: int | None = None,
        guider_config: Mapping | None = None,
        verbose: bool = False,
        device: str | torch.device | None = None,
        progress: bool = True,
        callback: StepCallback | None = None,
    ):
        self.num_steps = num_steps
        self.discretization = instantiate(discretization_config)
        self.guider = instantiate(DEFAULT_GUIDER if guider_config is None else guider_config)
        self.verbose = verbose
        self.device = device
        self.progress = progress
        self.callback = callback

    def prepare_sampling_loop(
        self, x: torch.Tensor, cond: Mapping, uc: Mapping | None = None, num_steps: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int, Mapping, Mapping]:
        """`(x scaled to the first sigma, ones per sample, sigmas, number of sigmas, cond, uc)`."""
        steps = self.num_steps if num_steps is None else num_steps
        if steps is None:
            raise ValueError(f"{type(self).__name__} needs a step count: pass num_steps to the sampler or to the call")
        device = x.device if self.device is None else self.device
        sigmas = self.discretization(steps, device=device).to(x.device)
        uc = cond if uc is None else uc
        # Unit noise becomes noise of the first level's marginal std, sqrt(1 + sigma_max^2) for unit-variance data.
        x = x * torch.sqrt(1.0 + sigmas[0] ** 2.0)
        s_in = x.new_ones([x.shape[0]])
        return x, s_in, sigmas, len(sigmas), cond, uc

    def denoise(
        self, x: torch.Tensor, denoiser: Any, sigma: torch.Tensor, cond: Mapping, uc: Mapping, **extra: Any
    ) -> torch.Tensor:
        """The guided denoiser output D(x, sigma)."""
        denoised = denoiser(*self.guider.prepare_inputs(x, sigma, cond, uc), **extra)
        return self.guider(denoised, sigma)

    def get_sigma_gen(self, num_sigmas: int) -> Iterator[int]:
        """The step indices 0 .. num_sigmas - 2, wrapped in a progress bar and reported to `self.callback`."""
        name = type(self).__name__
        if self.verbose:
            print(
                f"Sampling with {name}, {type(self.discretization).__name__} discretization, "
                f"{type(self.guider).__name__} guider, {num_sigmas - 1} steps"
            )
        total = num_sigmas - 1
        # disable=None lets tqdm hide the bar when stderr is not a terminal.
        for i in tqdm(range(total), desc=f"{name}", disable=None if self.progress else True, leave=False):
            if self.callback is not None:
                self.callback(i, total)
            yield i
        if self.callback is not None:
            self.callback(total, total)


class SingleStepDiffusionSampler(BaseDiffusionSampler):
    def euler_step(self, x: torch.Tensor, d: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
        return x + dt * d
