"""Which key differences between a checkpoint and a model are benign, and how older key names map to ours.

Facts from the official files (see the reference layouts' README): the SD 2.1 files were written by the older `ldm`
code, with the text encoder under `cond_stage_model.` and the DDPM schedule stored as buffers; some buffers
(`denoiser.sigmas`, HF CLIP's `position_ids`) are recomputed by the model and may or may not be in a file; and
conditioners that wrap a full VAE only use its encoder, so the decoder half may be missing.
"""

import re
from collections.abc import Iterable

# ldm's name for the first (only) text encoder of SD 2.x, and ours.
_LDM_PREFIXES = (("cond_stage_model.", "conditioner.embedders.0."),)

# ldm's DDPM schedule buffers and EMA copy: stored in ldm files, unused here (our denoiser computes its schedule).
_IGNORED_NAMES = frozenset(
    {
        "betas",
        "alphas_cumprod",
        "alphas_cumprod_prev",
        "sqrt_alphas_cumprod",
        "sqrt_one_minus_alphas_cumprod",
        "log_one_minus_alphas_cumprod",
        "sqrt_recip_alphas_cumprod",
        "sqrt_recipm1_alphas_cumprod",
        "posterior_variance",
        "posterior_log_variance_clipped",
        "posterior_mean_coef1",
        "posterior_mean_coef2",
        "logvar",
        "lvlb_weights",
    }
)
_IGNORED_PREFIXES = ("model_ema.",)

# Accepted whether present or absent: recomputable buffers and the unused decoder half of conditioning VAEs.
_OPTIONAL_PATTERNS = (
    re.compile(r"^denoiser\.sigmas$"),
    re.compile(r"(^|\.)embeddings\.position_ids$"),
    re.compile(r"^conditioner\.embedders\.\d+\.encoder\.(decoder|post_quant_conv)\."),
)


def is_ignored(key: str) -> bool:
    """A key some official files carry that no model here reads."""
    return key in _IGNORED_NAMES or key.startswith(_IGNORED_PREFIXES)


def is_optional(key: str) -> bool:
    """A key a model has that a checkpoint may carry or leave out."""
    return any(pattern.search(key) for pattern in _OPTIONAL_PATTERNS)


def canonical_keys(file_keys: Iterable[str], model_keys: Iterable[str]) -> dict[str, str]:
    """`{file key: model key}` renaming ldm-era names to ours where the model has no key by the old name."""
    model_keys = set(model_keys)
    renames = {}
    for key in file_keys:
        renames[key] = key
        if key in model_keys:
            continue
        for old, new in _LDM_PREFIXES:
            if key.startswith(old):
                renames[key] = new + key[len(old) :]
    return renames
