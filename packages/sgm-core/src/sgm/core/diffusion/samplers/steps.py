"""Step formulas shared by the samplers (the conventions of k-diffusion: sigma-parameterized ODE, t = -log sigma)."""

from collections.abc import Callable

import numpy as np
import torch
from scipy import integrate

from sgm.core.diffusion.tensor_shapes import append_dims


def to_d(x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    """dx/dsigma = (x - D(x, sigma)) / sigma, the probability-flow ODE (Karras et al. 2022, eq. 3)."""
    return (x - denoised) / append_dims(sigma, x.ndim)


def to_neg_log_sigma(sigma: torch.Tensor) -> torch.Tensor:
    """t = -log sigma, the time variable of DPM-Solver (Lu et al. 2022)."""
    return sigma.log().neg()


def to_sigma(neg_log_sigma: torch.Tensor) -> torch.Tensor:
    return neg_log_sigma.neg().exp()


def get_ancestral_step(
    sigma_from: torch.Tensor, sigma_to: torch.Tensor, eta: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """`(sigma_down, sigma_up)`: step deterministically to sigma_down, then add noise of std sigma_up, so that the
    marginal at sigma_to is right; eta = 1 is DDPM's ancestral step, eta = 0 the deterministic one."""
    if not eta:
        return sigma_to, torch.zeros_like(sigma_to)
    sigma_up = torch.minimum(sigma_to, eta * (sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2) ** 0.5)
    sigma_down = (sigma_to**2 - sigma_up**2) ** 0.5
    return sigma_down, sigma_up


def dpm_solver_2_step(
    x: torch.Tensor,
    denoised: torch.Tensor,
    sigma: torch.Tensor,
    sigma_to: torch.Tensor,
    denoise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """x at sigma_to from x at sigma, where D(x, sigma) = `denoised`: DPM-Solver-2 (Lu et al. 2022, "DPM-Solver",
    r1 = 1/2), which in sigma is an Euler step to the midpoint in log sigma, then the whole step with the slope found
    there. `denoise(x, sigma)` evaluates D. A step to sigma_to = 0 (no midpoint in log sigma) is a plain Euler step."""
    d = to_d(x, sigma, denoised)
    dt = append_dims(sigma_to - sigma, x.ndim)
    euler = x + d * dt
    if torch.sum(sigma_to) < 1e-14:
        return euler  # every sample lands at sigma = 0: no midpoint evaluation
    sigma_mid = sigma.log().lerp(sigma_to.log(), 0.5).exp()
    x_mid = x + d * append_dims(sigma_mid - sigma, x.ndim)
    x_next = x + to_d(x_mid, sigma_mid, denoise(x_mid, sigma_mid)) * dt
    return torch.where(append_dims(sigma_to, x.ndim) > 0.0, x_next, euler)


def linear_multistep_coeff(order: int, t: np.ndarray, i: int, j: int, epsrel: float = 1e-4) -> float:
    """Integral over [t_i, t_{i+1}] of the Lagrange basis polynomial that is 1 at t_{i-j} and 0 at the other
    nodes t_i, ..., t_{i-order+1}: the weight of the j-th last derivative in an Adams-Bashforth step.

    Integrated by adaptive quadrature over the nodes as given (float32 sigmas keep float32 arithmetic), as the
    reference does, so the weights match its bits.
    """
    if order - 1 > i:
        raise ValueError(f"order {order} is too high for step {i}")
    others = [t[i - k] for k in range(order) if k != j]

    def basis(tau: float) -> float:
        value = 1.0
        for node in others:
            value *= (tau - node) / (t[i - j] - node)
        return value

    return integrate.quad(basis, t[i], t[i + 1], epsrel=epsrel)[0]
