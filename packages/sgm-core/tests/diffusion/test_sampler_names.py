"""Sampler and schedule names: ComfyUI's, AUTOMATIC1111's labels and aliases, and class names, to one choice."""

import pytest

from sgm.core.diffusion import discretization, samplers
from sgm.core.diffusion.sampler_names import (
    OTHER_DISCRETIZATIONS,
    SAMPLER_CLASSES,
    SAMPLER_NAMES,
    SAMPLERS,
    SCHEDULE_NAMES,
    SamplerChoice,
    resolve_sampler,
    resolve_schedule,
    sampler_api_list,
    schedule_api_list,
)
from sgm.core.errors import SgmError

EDM = {"target": "sgm.core.diffusion.discretization.EDMDiscretization"}

# What each ComfyUI name is, written out here rather than read back from the table.
COMFYUI = {
    "euler": ("EulerEDMSampler", {"s_churn": 0.0}),
    "euler_a": ("EulerAncestralSampler", {}),
    "euler_ancestral": ("EulerAncestralSampler", {}),
    "heun": ("HeunEDMSampler", {"s_churn": 0.0}),
    "dpm_2": ("DPM2Sampler", {"s_churn": 0.0}),
    "dpm_2_a": ("DPM2AncestralSampler", {}),
    "dpm_2_ancestral": ("DPM2AncestralSampler", {}),
    "lms": ("LinearMultistepSampler", {}),
    "dpmpp_2s_ancestral": ("DPMPP2SAncestralSampler", {}),
    "dpmpp_2m": ("DPMPP2MSampler", {}),
    "dpmpp_2m_sde": ("DPMPP2MSDESampler", {"solver_type": "midpoint"}),
    "dpmpp_2m_sde_gpu": ("DPMPP2MSDESampler", {"solver_type": "midpoint"}),
    "dpmpp_3m_sde": ("DPMPP3MSDESampler", {}),
    "dpmpp_3m_sde_gpu": ("DPMPP3MSDESampler", {}),
}

KARRAS, EXPONENTIAL = "KarrasDiscretization", "ExponentialDiscretization"
# AUTOMATIC1111's labels (<= 1.8 carried the schedule in the label) and `k_` aliases: (sampler, schedule, options).
A1111 = {
    "Euler": ("EulerEDMSampler", None, {"s_churn": 0.0}),
    "Euler a": ("EulerAncestralSampler", None, {}),
    "LMS": ("LinearMultistepSampler", None, {}),
    "Heun": ("HeunEDMSampler", None, {"s_churn": 0.0}),
    "DPM2": ("DPM2Sampler", None, {"s_churn": 0.0}),
    "DPM2 a": ("DPM2AncestralSampler", None, {}),
    "DPM++ 2S a": ("DPMPP2SAncestralSampler", None, {}),
    "DPM++ 2M": ("DPMPP2MSampler", None, {}),
    "DPM++ 2M SDE": ("DPMPP2MSDESampler", None, {"solver_type": "midpoint"}),
    "DPM++ 2M SDE Heun": ("DPMPP2MSDESampler", None, {"solver_type": "heun"}),
    "DPM++ 3M SDE": ("DPMPP3MSDESampler", None, {}),
    "LMS Karras": ("LinearMultistepSampler", KARRAS, {}),
    "DPM2 Karras": ("DPM2Sampler", KARRAS, {"s_churn": 0.0}),
    "DPM2 a Karras": ("DPM2AncestralSampler", KARRAS, {}),
    "DPM++ 2S a Karras": ("DPMPP2SAncestralSampler", KARRAS, {}),
    "DPM++ 2M Karras": ("DPMPP2MSampler", KARRAS, {}),
    "DPM++ 2M SDE Karras": ("DPMPP2MSDESampler", KARRAS, {"solver_type": "midpoint"}),
    "DPM++ 2M SDE Exponential": ("DPMPP2MSDESampler", EXPONENTIAL, {"solver_type": "midpoint"}),
    "DPM++ 2M SDE Heun Karras": ("DPMPP2MSDESampler", KARRAS, {"solver_type": "heun"}),
    "DPM++ 2M SDE Heun Exponential": ("DPMPP2MSDESampler", EXPONENTIAL, {"solver_type": "heun"}),
    "DPM++ 3M SDE Karras": ("DPMPP3MSDESampler", KARRAS, {}),
    "DPM++ 3M SDE Exponential": ("DPMPP3MSDESampler", EXPONENTIAL, {}),
    "k_euler_a": ("EulerAncestralSampler", None, {}),
    "k_euler_ancestral": ("EulerAncestralSampler", None, {}),
    "k_dpmpp_2m_ka": ("DPMPP2MSampler", KARRAS, {}),
    "k_dpm_2_a_ka": ("DPM2AncestralSampler", KARRAS, {}),
    "k_dpmpp_2m_sde_heun_exp": ("DPMPP2MSDESampler", EXPONENTIAL, {"solver_type": "heun"}),
    "k_dpmpp_3m_sde_exp": ("DPMPP3MSDESampler", EXPONENTIAL, {}),
}


@pytest.mark.parametrize("name", COMFYUI)
def test_comfyui_names_resolve_to_the_sampler_they_name_with_the_models_schedule(name):
    sampler, options = COMFYUI[name]
    assert resolve_sampler(name) == SamplerChoice(sampler, None, options, name.startswith("dpm_2"))


@pytest.mark.parametrize("label", A1111)
def test_automatic1111_labels_resolve_to_the_sampler_and_schedule_they_name(label):
    sampler, schedule, options = A1111[label]
    choice = resolve_sampler(label)
    assert (choice.sampler, choice.schedule, dict(choice.options)) == (sampler, schedule, options)


@pytest.mark.parametrize("spelling", ["dpm++ 2m karras", "DPMPP_2M_KARRAS", "  DPM++  2M   Karras ", "dpmpp-2m-karras"])
def test_names_ignore_case_spaces_and_separators(spelling):
    assert resolve_sampler(spelling) == resolve_sampler("DPM++ 2M Karras")


def test_comfyui_sampler_and_scheduler_pairs_resolve_together():
    assert resolve_sampler("dpmpp_2m_sde sgm_uniform").schedule == "SGMUniformDiscretization"
    assert resolve_sampler("euler_ancestral normal").schedule == "NormalDiscretization"
    assert resolve_sampler("Euler a Karras") == SamplerChoice("EulerAncestralSampler", KARRAS)


def test_every_concrete_sampler_class_resolves_to_itself_and_has_a_user_name():
    bases = {"BaseDiffusionSampler", "SingleStepDiffusionSampler", "EDMSampler", "AncestralSampler"}
    classes = set(samplers.__all__) - bases - {"DPMPPMultistepSDESampler"}
    assert set(SAMPLER_CLASSES) == classes == {entry.sampler for entry in SAMPLERS}
    for name in classes:
        assert resolve_sampler(name) == SamplerChoice(name)


@pytest.mark.parametrize("entry", SAMPLERS, ids=lambda entry: entry.name)
def test_every_spelling_of_an_entry_builds_its_sampler_with_its_options(entry):
    for spelling in (entry.name, entry.label, *entry.aliases):
        choice = resolve_sampler(spelling)
        assert (choice.sampler, choice.schedule) == (entry.sampler, None)
    sampler = getattr(samplers, choice.sampler)(discretization_config=EDM, progress=False, **choice.options)
    for option, value in choice.options.items():
        assert getattr(sampler, option) == value


def test_resolved_options_are_a_copy():
    resolve_sampler("euler").options["s_churn"] = 5.0
    assert resolve_sampler("euler").options == {"s_churn": 0.0}


def test_only_dpm2_samplers_discard_the_penultimate_sigma():
    discarding = {name for name in SAMPLER_NAMES if resolve_sampler(name).discard_penultimate_sigma}
    assert discarding == {"dpm_2", "dpm_2_a"}
    assert resolve_sampler("DPM2 a Karras").discard_penultimate_sigma


@pytest.mark.parametrize(
    "name, suggestion",
    [
        ("dpmpp_2m_karas", "DPM++ 2M Karras"),
        ("eulr", "euler"),
        ("DPM++ 2M SDE Exponentail", "DPM++ 2M SDE Exponential"),
        ("dpm2_ancestrl", "dpm_2_ancestral"),
        ("EulerEDMSampeler", "EulerEDMSampler"),
    ],
)
def test_unknown_sampler_names_suggest_the_nearest(name, suggestion):
    with pytest.raises(SgmError, match="did you mean") as error:
        resolve_sampler(name)
    message = str(error.value)
    assert repr(suggestion) in message and "\n" not in message
    assert repr(name) in message and "dpmpp_2m" in message  # names the input and lists the known names


def test_unknown_names_without_a_near_one_list_the_known_ones():
    with pytest.raises(SgmError, match="unknown sampler 'ddim': known samplers: euler, euler_a"):
        resolve_sampler("ddim")
    with pytest.raises(SgmError, match="unknown sampler 3"):
        resolve_sampler(3)


SCHEDULES = {
    "karras": "KarrasDiscretization",
    "Karras": "KarrasDiscretization",
    "exponential": "ExponentialDiscretization",
    "sgm_uniform": "SGMUniformDiscretization",
    "SGM Uniform": "SGMUniformDiscretization",
    "SGMUniform": "SGMUniformDiscretization",
    "normal": "NormalDiscretization",
    "Uniform": "NormalDiscretization",
    "LegacyDDPMDiscretization": "LegacyDDPMDiscretization",
    "EDMDiscretization": "EDMDiscretization",
    "KarrasDiscretization": "KarrasDiscretization",
    "NormalDiscretization": "NormalDiscretization",
    "TurboSubstepDiscretization": "TurboSubstepDiscretization",
    "Automatic": None,
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedule_names_resolve_to_discretization_classes(name):
    assert resolve_schedule(name) == SCHEDULES[name]


def test_every_schedule_name_is_a_discretization_of_this_package_or_the_turbo_one():
    for name in (*SCHEDULE_NAMES, *OTHER_DISCRETIZATIONS):
        class_name = resolve_schedule(name)
        if class_name != "TurboSubstepDiscretization":
            assert issubclass(getattr(discretization, class_name), discretization.Discretization)
        assert resolve_schedule(class_name) == class_name


def test_unknown_schedule_names_suggest_the_nearest():
    with pytest.raises(SgmError, match="unknown schedule 'karas': did you mean 'karras'"):
        resolve_schedule("karas")
    with pytest.raises(SgmError, match="known schedules: karras, exponential, sgm_uniform, normal"):
        resolve_schedule("beta")


def test_api_lists_are_automatic1111_shaped_and_every_name_in_them_resolves():
    entries = sampler_api_list()
    assert [entry["name"] for entry in entries][:2] == ["Euler", "Euler a"]
    for entry in entries:
        assert set(entry) == {"name", "aliases", "options"}
        assert all(isinstance(value, str) for value in entry["options"].values())
        choices = [resolve_sampler(name) for name in (entry["name"], *entry["aliases"])]
        assert all(choice == choices[0] for choice in choices)
    assert {entry["aliases"][0] for entry in entries} == set(SAMPLER_NAMES)
    for entry in schedule_api_list():
        assert set(entry) == {"name", "label", "aliases"}
        assert len({resolve_schedule(name) for name in (entry["name"], entry["label"], *entry["aliases"])}) == 1
    assert [entry["name"] for entry in schedule_api_list()] == list(SCHEDULE_NAMES)
