"""Sampler and schedule names users know, beside our class names.

ComfyUI's sampler and scheduler names (`dpmpp_2m`, `euler_ancestral`, `karras`), AUTOMATIC1111's labels with or
without a schedule suffix ("DPM++ 2M Karras", "Euler a") and its `k_` aliases (`k_dpmpp_2m_ka`), and the class
names of `sgm.core.diffusion.samplers` all resolve to one `SamplerChoice`. Matching ignores case, spaces, `_` and
`-`, and reads "+" as "p", so "DPM++ 2M" is `dpmpp_2m`. A sampler named without a schedule keeps the model's own
(ComfyUI has no per-sampler schedule; AUTOMATIC1111 >= 1.9 picks one under "Automatic", this does not).
"""

import dataclasses
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sgm.core.errors import SgmError


@dataclass(frozen=True)
class SamplerChoice:
    """What a sampler name means. sampler: a class name in `sgm.core.diffusion.samplers`; schedule: a
    discretization class name, None for the model's default; options: the constructor options the name fixes;
    discard_penultimate_sigma: sample `n` steps of the schedule's `n + 1` without its smallest non-zero sigma
    (`DiscardPenultimateSigmaWrapper`), as ComfyUI and AUTOMATIC1111 do for DPM2 and DPM2 a."""

    sampler: str
    schedule: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    discard_penultimate_sigma: bool = False


@dataclass(frozen=True)
class SamplerName:
    """One sampler as users name it: ComfyUI's `name`, AUTOMATIC1111's `label`, other spellings in `aliases`."""

    name: str
    label: str
    sampler: str
    options: Mapping[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    discard_penultimate_sigma: bool = False

    def choice(self, schedule: str | None = None) -> SamplerChoice:
        return SamplerChoice(self.sampler, schedule, dict(self.options), self.discard_penultimate_sigma)


@dataclass(frozen=True)
class ScheduleName:
    """One noise schedule: ComfyUI's `name`, AUTOMATIC1111's `label`, the discretization class it is."""

    name: str
    label: str
    discretization: str
    aliases: tuple[str, ...] = ()


# k-diffusion's Euler, Heun and DPM2 take churn, off unless asked for.
_NO_CHURN = {"s_churn": 0.0}
SAMPLERS: tuple[SamplerName, ...] = (
    SamplerName("euler", "Euler", "EulerEDMSampler", _NO_CHURN, ("k_euler",)),
    SamplerName(
        "euler_a", "Euler a", "EulerAncestralSampler", {}, ("euler_ancestral", "k_euler_a", "k_euler_ancestral")
    ),
    SamplerName("heun", "Heun", "HeunEDMSampler", _NO_CHURN, ("k_heun",)),
    SamplerName("dpm_2", "DPM2", "DPM2Sampler", _NO_CHURN, ("k_dpm_2",), discard_penultimate_sigma=True),
    SamplerName(
        "dpm_2_a",
        "DPM2 a",
        "DPM2AncestralSampler",
        aliases=("dpm_2_ancestral", "k_dpm_2_a"),
        discard_penultimate_sigma=True,
    ),
    SamplerName("lms", "LMS", "LinearMultistepSampler", {}, ("k_lms",)),
    SamplerName("dpmpp_2s_a", "DPM++ 2S a", "DPMPP2SAncestralSampler", {}, ("dpmpp_2s_ancestral", "k_dpmpp_2s_a")),
    SamplerName("dpmpp_2m", "DPM++ 2M", "DPMPP2MSampler", {}, ("k_dpmpp_2m",)),
    # ComfyUI's `_gpu` variants differ only in where their Brownian-tree noise lives; ours is randn_like.
    SamplerName(
        "dpmpp_2m_sde",
        "DPM++ 2M SDE",
        "DPMPP2MSDESampler",
        {"solver_type": "midpoint"},
        ("dpmpp_2m_sde_gpu", "k_dpmpp_2m_sde"),
    ),
    SamplerName(
        "dpmpp_2m_sde_heun", "DPM++ 2M SDE Heun", "DPMPP2MSDESampler", {"solver_type": "heun"}, ("k_dpmpp_2m_sde_heun",)
    ),
    SamplerName("dpmpp_3m_sde", "DPM++ 3M SDE", "DPMPP3MSDESampler", {}, ("dpmpp_3m_sde_gpu", "k_dpmpp_3m_sde")),
)
SCHEDULES: tuple[ScheduleName, ...] = (
    ScheduleName("karras", "Karras", "KarrasDiscretization"),
    ScheduleName("exponential", "Exponential", "ExponentialDiscretization"),
    ScheduleName("sgm_uniform", "SGM Uniform", "SGMUniformDiscretization", ("SGMUniform",)),
    # AUTOMATIC1111's "Uniform" (k-diffusion's DiscreteSchedule.get_sigmas) is the same schedule.
    ScheduleName("normal", "Normal", "NormalDiscretization", ("uniform",)),
)
# The schedule suffixes of AUTOMATIC1111's `k_` aliases (`k_dpmpp_2m_ka`, `k_dpmpp_3m_sde_exp`).
_K_ALIAS_SUFFIXES = {"_ka": "KarrasDiscretization", "_exp": "ExponentialDiscretization"}
# Schedules known by class name only. TurboSubstepDiscretization lives with the Turbo pipelines; it is named, not
# imported, here.
OTHER_DISCRETIZATIONS = ("LegacyDDPMDiscretization", "EDMDiscretization", "TurboSubstepDiscretization")
# AUTOMATIC1111's scheduler field: the sampler's default schedule.
AUTOMATIC_SCHEDULE = "Automatic"

SAMPLER_NAMES: tuple[str, ...] = tuple(entry.name for entry in SAMPLERS)
SCHEDULE_NAMES: tuple[str, ...] = tuple(entry.name for entry in SCHEDULES)
SAMPLER_CLASSES: tuple[str, ...] = tuple(dict.fromkeys(entry.sampler for entry in SAMPLERS))


def _key(name: str) -> str:
    """The spelling-blind form of a name: lower case, "+" read as "p", only letters and digits kept."""
    return re.sub(r"[^a-z0-9]", "", name.lower().replace("+", "p"))


def _spellings(entry: SamplerName | ScheduleName) -> tuple[str, ...]:
    return (entry.name, entry.label, *entry.aliases)


def _sampler_table() -> tuple[dict[str, SamplerChoice], dict[str, str]]:
    """`(choice by key, display name by key)`: every sampler spelling, alone and followed by a schedule's."""
    choices: dict[str, SamplerChoice] = {}
    display: dict[str, str] = {}
    for entry in SAMPLERS:
        for spelling in _spellings(entry):
            choices[_key(spelling)] = entry.choice()
            display.setdefault(_key(spelling), spelling)
            for schedule in SCHEDULES:
                for suffix in _spellings(schedule):
                    choices[_key(spelling) + _key(suffix)] = entry.choice(schedule.discretization)
                display.setdefault(_key(entry.label + schedule.label), f"{entry.label} {schedule.label}")
        for alias in (alias for alias in entry.aliases if alias.startswith("k_")):
            for suffix, discretization in _K_ALIAS_SUFFIXES.items():
                choices[_key(alias + suffix)] = entry.choice(discretization)
    for class_name in SAMPLER_CLASSES:
        choices[_key(class_name)] = SamplerChoice(class_name)
        display[_key(class_name)] = class_name
    return choices, display


def _schedule_table() -> tuple[dict[str, str | None], dict[str, str]]:
    """`(discretization class name by key, display name by key)`."""
    choices: dict[str, str | None] = {_key(AUTOMATIC_SCHEDULE): None}
    display = {_key(AUTOMATIC_SCHEDULE): AUTOMATIC_SCHEDULE}
    for entry in SCHEDULES:
        for spelling in _spellings(entry):
            choices[_key(spelling)] = entry.discretization
            display.setdefault(_key(spelling), spelling)
    for class_name in (*(entry.discretization for entry in SCHEDULES), *OTHER_DISCRETIZATIONS):
        choices[_key(class_name)] = class_name
        display[_key(class_name)] = class_name
    return choices, display


_SAMPLER_CHOICES, _SAMPLER_DISPLAY = _sampler_table()
_SCHEDULE_CHOICES, _SCHEDULE_DISPLAY = _schedule_table()


def _unknown(kind: str, name: Any, choices: Mapping[str, Any], display: Mapping[str, str], known: str) -> SgmError:
    """An SgmError naming up to three nearest spellings that mean different things, then the known names."""
    nearest: dict[str, str] = {}  # by what the spelling means (a SamplerChoice is not hashable: its repr is)
    for key in difflib.get_close_matches(_key(str(name)), list(display), n=10, cutoff=0.6):
        nearest.setdefault(repr(choices[key]), display[key])
    suggestions = list(nearest.values())[:3]
    hint = f"did you mean {' or '.join(map(repr, suggestions))}? " if suggestions else ""
    return SgmError(f"unknown {kind} {name!r}: {hint}known {kind}s: {known}")


def resolve_sampler(name: str) -> SamplerChoice:
    """The sampler (and schedule, where the name gives one) that `name` means: "dpmpp_2m", "DPM++ 2M Karras",
    "Euler a", "k_dpm_2_a_ka", "DPMPP2MSampler", ..."""
    choice = _SAMPLER_CHOICES.get(_key(name)) if isinstance(name, str) else None
    if choice is None:
        known = f"{', '.join(SAMPLER_NAMES)}, their AUTOMATIC1111 labels, or a sampler class name"
        raise _unknown("sampler", name, _SAMPLER_CHOICES, _SAMPLER_DISPLAY, known)
    return dataclasses.replace(choice, options=dict(choice.options))  # a copy the caller may change


def resolve_schedule(name: str) -> str | None:
    """The discretization class name that `name` means ("karras", "SGM Uniform", "EDMDiscretization", ...);
    None for AUTOMATIC1111's "Automatic", the sampler's (here: the model's) default."""
    if isinstance(name, str) and _key(name) in _SCHEDULE_CHOICES:
        return _SCHEDULE_CHOICES[_key(name)]
    known = f"{', '.join(SCHEDULE_NAMES)}, or one of {', '.join(OTHER_DISCRETIZATIONS)}"
    raise _unknown("schedule", name, _SCHEDULE_CHOICES, _SCHEDULE_DISPLAY, known)


def sampler_api_list() -> list[dict[str, Any]]:
    """The samplers as AUTOMATIC1111's `/sdapi/v1/samplers` lists them: label, aliases, options (as strings)."""
    return [
        {
            "name": entry.label,
            "aliases": [entry.name, *entry.aliases],
            "options": {key: str(value) for key, value in entry.options.items()},
        }
        for entry in SAMPLERS
    ]


def schedule_api_list() -> list[dict[str, Any]]:
    """The schedules as AUTOMATIC1111's `/sdapi/v1/schedulers` lists them: name, label, aliases."""
    return [{"name": entry.name, "label": entry.label, "aliases": list(entry.aliases)} for entry in SCHEDULES]
