"""Every package and app says what a wheel index shows (classifiers, project URLs), and depends on the other workspace
members with bounds that admit their current version and exclude the next breaking one (`>=0.1,<0.2`), so a
release of one package cannot silently pair with an incompatible release of another."""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECTS = sorted([*ROOT.glob("packages/*/pyproject.toml"), *ROOT.glob("apps/*/pyproject.toml")])
PROJECTS = {path.parent.name: tomllib.loads(path.read_text())["project"] for path in PYPROJECTS}
VERSIONS = {project["name"]: Version(project["version"]) for project in PROJECTS.values()}


def _next_breaking(version: Version) -> Version:
    """Semantic versioning: before 1.0 a minor release may break, after it a major one."""
    return Version(f"0.{version.minor + 1}") if version.major == 0 else Version(f"{version.major + 1}")


@pytest.mark.parametrize("folder", sorted(PROJECTS))
def test_wheels_carry_classifiers_and_urls(folder):
    project = PROJECTS[folder]
    classifiers = project.get("classifiers", [])
    assert "Programming Language :: Python :: 3" in classifiers
    assert any(c.startswith("Development Status ::") for c in classifiers)
    assert any(c.startswith("Topic ::") for c in classifiers)
    assert not any(c.startswith("License ::") for c in classifiers)  # the SPDX `license` field says it
    urls = project.get("urls", {})
    assert urls and all(re.match(r"https://\S+$", url) for url in urls.values())


@pytest.mark.parametrize("folder", sorted(PROJECTS))
def test_workspace_dependencies_are_bounded_to_the_current_series(folder):
    for text in PROJECTS[folder].get("dependencies", []):
        requirement = Requirement(text)
        if requirement.name not in VERSIONS:
            continue
        current = VERSIONS[requirement.name]
        assert requirement.specifier, f"{folder}: {text} has no version bounds"
        assert current in requirement.specifier, f"{folder}: {text} excludes {requirement.name} {current}"
        assert _next_breaking(current) not in requirement.specifier, f"{folder}: {text} admits the next series"
