"""The project's two dependency lists (pyproject.toml, environment.yml) name the same packages."""

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _name_and_spec(requirement: str) -> tuple[str, str]:
    requirement = requirement.split(";")[0].split("#")[0].strip()
    name = re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0)
    return name.lower().replace("_", "-"), requirement[len(name):].strip()


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return dict(_name_and_spec(r) for r in reqs)


def environment_requirements() -> dict[str, str]:
    reqs = {}
    text = (ROOT / "environment.yml").read_text()
    dependencies = text.split("\ndependencies:\n", 1)[1]
    for line in dependencies.splitlines():
        m = re.match(r"^  - ([A-Za-z0-9].*)$", line)  # top-level conda entries only
        if m:
            name, spec = _name_and_spec(m.group(1))
            if name not in ("python", "pip"):
                reqs[name] = spec
    return reqs


def test_environment_yml_and_pyproject_name_the_same_packages_and_versions():
    assert environment_requirements() == pyproject_requirements()


def test_the_ukva_command_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["ukva"] == "ukva_widgets.cli:main"
