"""Diffusion math: noise schedules, denoiser preconditioning, loss weighting, sigma sampling, guidance, samplers, loss.

Each piece is its own module, named in reference configs through `sgm.core.config.aliases`:
`discretization`, `scaling`, `denoiser`, `weighting`, `sigma_sampling`, `guiders`, `samplers`, `loss`.
`sampler_names` maps the names users know (ComfyUI's `dpmpp_2m` / `karras`, AUTOMATIC1111's "DPM++ 2M Karras") to
those classes.
"""
