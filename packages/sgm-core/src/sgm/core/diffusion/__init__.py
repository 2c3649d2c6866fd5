"""Diffusion math: noise schedules, denoiser preconditioning, loss weighting, sigma sampling, guidance, samplers, loss.

Each piece is its own module, named in reference configs through `sgm.core.config.aliases`:
`discretization`, `scaling`, `denoiser`, `weighting`, `sigma_sampling`, `guiders`, `samplers`, `loss`.
"""
