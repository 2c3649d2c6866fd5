"""Samplers, noise schedules and guidance chosen by name, with the reference scripts' defaults.

`build_sampler(settings, discrete_model=...)` gives the sampler that the reference's `get_sampler_config`
(sgm/inference/api.py) builds for the same names and numbers. Besides the class names, the names users know work
(`sgm.core.diffusion.sampler_names`: ComfyUI's `dpmpp_2m`, AUTOMATIC1111's "DPM++ 2M Karras", which also picks its
schedule); unknown names are an SgmError suggesting the nearest ones.
"""

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sgm.core.diffusion import samplers
from sgm.core.diffusion.discretization import DiscardPenultimateSigmaWrapper
from sgm.core.diffusion.sampler_names import SAMPLERS as SAMPLER_NAMES
from sgm.core.diffusion.sampler_names import resolve_sampler, resolve_schedule
from sgm.core.errors import SgmError
from sgm.pipelines.turbo import TURBO_DISCRETIZATION, TurboSubstepDiscretization

_DIFFUSION = "sgm.core.diffusion"
# Constructor options of each sampler family, beyond steps, schedule and guidance.
_EDM_OPTIONS = ("s_churn", "s_tmin", "s_tmax", "s_noise")
_NOISE_OPTIONS = ("eta", "s_noise")
SAMPLERS: Mapping[str, tuple[type, tuple[str, ...]]] = {
    "EulerEDMSampler": (samplers.EulerEDMSampler, _EDM_OPTIONS),
    "HeunEDMSampler": (samplers.HeunEDMSampler, _EDM_OPTIONS),
    "DPM2Sampler": (samplers.DPM2Sampler, _EDM_OPTIONS),
    "DPM2AncestralSampler": (samplers.DPM2AncestralSampler, _NOISE_OPTIONS),
    "EulerAncestralSampler": (samplers.EulerAncestralSampler, _NOISE_OPTIONS),
    "DPMPP2SAncestralSampler": (samplers.DPMPP2SAncestralSampler, _NOISE_OPTIONS),
    "DPMPP2MSampler": (samplers.DPMPP2MSampler, ()),
    "LinearMultistepSampler": (samplers.LinearMultistepSampler, ("order",)),
    "DPMPP2MSDESampler": (samplers.DPMPP2MSDESampler, (*_NOISE_OPTIONS, "solver_type")),
    "DPMPP3MSDESampler": (samplers.DPMPP3MSDESampler, _NOISE_OPTIONS),
}
DISCRETIZATIONS = ("LegacyDDPMDiscretization", "EDMDiscretization", TURBO_DISCRETIZATION, "KarrasDiscretization",
                   "ExponentialDiscretization", "SGMUniformDiscretization", "NormalDiscretization")  # fmt: skip
# The settings a sampler's name may bring besides its class (ComfyUI's "euler": no churn; "dpm_2": one sigma less).
_NAMED_OPTIONS = ("s_churn", "s_tmin", "s_tmax", "s_noise", "eta", "order", "solver_type", "discard_penultimate_sigma")
# Schedules over a DDPM-trained model's own timesteps or sigma range; an EDM-trained model has Karras's as EDM's.
_DISCRETE_ONLY = ("ExponentialDiscretization", "SGMUniformDiscretization", "NormalDiscretization")
# api.py's EDM schedule for the discrete (DDPM-trained) models: their own sigma range, rho 3.
DISCRETE_MODEL_EDM = {"sigma_min": 0.0292, "sigma_max": 14.6146, "rho": 3.0}


@dataclass(frozen=True)
class SamplerSettings:
    """How to sample. guidance: classifier-free guidance scale, where <= 1 means none (IdentityGuider);
    sigma_min / sigma_max / rho: EDMDiscretization's parameters (None: api.py's values for discrete models, the
    EDM defaults otherwise); s_*: the EDM samplers' churn; eta, s_noise: ancestral / SDE noise; order: LMS order;
    progress: show the sampler's tqdm bar."""

    sampler: str = "DPMPP2MSampler"
    discretization: str = "LegacyDDPMDiscretization"
    steps: int = 50
    guidance: float = 6.0
    sigma_min: float | None = None
    sigma_max: float | None = None
    rho: float | None = None
    s_churn: float = 0.0
    s_tmin: float = 0.0
    s_tmax: float = 999.0
    s_noise: float = 1.0
    eta: float = 1.0
    order: int = 4
    solver_type: str = "midpoint"
    discard_penultimate_sigma: bool = False
    progress: bool = True

    def __post_init__(self):
        if self.sampler not in SAMPLERS:
            raise SgmError(f"unknown sampler {self.sampler!r}: choose one of {', '.join(SAMPLERS)}")
        if self.discretization not in DISCRETIZATIONS:
            raise SgmError(
                f"unknown discretization {self.discretization!r}: choose one of {', '.join(DISCRETIZATIONS)}"
            )
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise SgmError(f"steps must be a positive whole number, got {self.steps!r}")
        if self.discretization == TURBO_DISCRETIZATION:
            TurboSubstepDiscretization.check_steps(self.steps)
        if not 0 <= self.guidance < math.inf:
            raise SgmError(f"guidance scale must be a finite number, 0 or more (1 or less means no guidance), got "
                           f"{self.guidance!r}")  # fmt: skip

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "SamplerSettings":
        """Settings from a mapping that may hold other keys too (a catalog entry's defaults); `cfg` means guidance."""
        names = {field.name for field in dataclasses.fields(cls)}
        values = {key: value for key, value in options.items() if key in names and value is not None}
        if options.get("cfg") is not None and "guidance" not in values:
            values["guidance"] = options["cfg"]
        return cls(**_resolved_names(values))

    def replace(self, **changes: Any) -> "SamplerSettings":
        """A copy with the given (non-None) fields changed; a sampler label that names a schedule ("DPM++ 2M
        Karras") sets it too, unless `discretization` is given."""
        changes = _resolved_names({key: value for key, value in changes.items() if value is not None})
        if "sampler" in changes:  # the options the previous sampler's name brought go with it
            changes = {"discard_penultimate_sigma": False, **changes}
        return dataclasses.replace(self, **changes)

    def sampler_name(self) -> str:
        """The name results record: one that gives these settings back through `replace(sampler=name)`, the class
        name where it does, else the name users know that brought the other options (DPM2's dropped sigma, the
        SDE sampler's Heun solver)."""
        plain = dataclasses.replace(self, **{f.name: f.default for f in dataclasses.fields(self) if f.name in
                                             _NAMED_OPTIONS})  # fmt: skip
        names = [self.sampler, *(entry.name for entry in SAMPLER_NAMES if entry.sampler == self.sampler)]
        same = (name for name in names if plain.replace(sampler=name, discretization=self.discretization) == self)
        return next(same, self.sampler)

    @property
    def guided(self) -> bool:
        return self.guidance > 1.0


def _resolved_names(values: dict[str, Any]) -> dict[str, Any]:
    """`sampler` and `discretization` as class names, from any name users know; a sampler's name may bring its
    schedule (unless one is given) and options (e.g. no churn for "euler")."""
    values = dict(values)
    if isinstance(values.get("sampler"), str):
        choice = resolve_sampler(values["sampler"])
        values["sampler"] = choice.sampler
        if choice.schedule is not None and values.get("discretization") is None:
            values["discretization"] = choice.schedule
        values = {**choice.options, **values}
        if choice.discard_penultimate_sigma:
            values["discard_penultimate_sigma"] = True
    if isinstance(values.get("discretization"), str):
        schedule = resolve_schedule(values["discretization"])
        if schedule is None:  # "Automatic": the model's own
            del values["discretization"]
        else:
            values["discretization"] = schedule
    return values


def discretization_config(settings: SamplerSettings, discrete_model: bool) -> dict:
    name = settings.discretization
    if name in _DISCRETE_ONLY and not discrete_model:
        raise SgmError(f"{name} follows a DDPM-trained model's timesteps; this model is EDM-trained: use karras or "
                       "EDMDiscretization")  # fmt: skip
    if name == "KarrasDiscretization" and not discrete_model:
        name = "EDMDiscretization"  # Karras et al.'s schedule is EDM's, over the model's own sigma range
    if name in DISCRETIZATIONS and name not in ("EDMDiscretization", "LegacyDDPMDiscretization", TURBO_DISCRETIZATION):
        return {"target": f"{_DIFFUSION}.discretization.{name}"}
    if name == "EDMDiscretization":
        defaults = DISCRETE_MODEL_EDM if discrete_model else {}
        params = {key: getattr(settings, key) for key in ("sigma_min", "sigma_max", "rho")}
        params = {**defaults, **{key: value for key, value in params.items() if value is not None}}
        return {"target": f"{_DIFFUSION}.discretization.EDMDiscretization", "params": params}
    # The Turbo substeps index the full legacy DDPM schedule, so their base is that schedule.
    return {"target": f"{_DIFFUSION}.discretization.LegacyDDPMDiscretization"}


def guider_config(settings: SamplerSettings) -> dict:
    if not settings.guided:
        return {"target": f"{_DIFFUSION}.guiders.IdentityGuider"}
    return {"target": f"{_DIFFUSION}.guiders.VanillaCFG", "params": {"scale": float(settings.guidance)}}


def build_sampler(settings: SamplerSettings, *, discrete_model: bool) -> samplers.BaseDiffusionSampler:
    """The sampler `settings` name; `discrete_model` says the model was trained on a discrete DDPM schedule
    (its denoiser has `sigmas`), which picks api.py's EDM sigma range."""
    sampler_class, option_names = SAMPLERS[settings.sampler]
    sampler = sampler_class(
        num_steps=settings.steps,
        discretization_config=discretization_config(settings, discrete_model),
        guider_config=guider_config(settings),
        verbose=False,
        progress=settings.progress,
        **{name: getattr(settings, name) for name in option_names},
    )
    if settings.discretization == TURBO_DISCRETIZATION:
        sampler.discretization = TurboSubstepDiscretization(sampler.discretization)
    if settings.discard_penultimate_sigma:  # DPM2's n steps from an n + 1 step schedule, as both front ends do
        sampler.discretization = DiscardPenultimateSigmaWrapper(sampler.discretization)
    return sampler
