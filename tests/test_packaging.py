"""The course environment is pinned once and mirrored: pyproject.toml, constraints.txt and
environment.yml agree, and what is installed is what is pinned."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins_of(lines) -> dict[str, str]:
    out = {}
    for line in lines:
        m = re.match(r"^\s*(?:-\s*)?([A-Za-z0-9_.-]+)\s*(==|=)\s*([A-Za-z0-9_.+!-]+)\s*$", line.split("#")[0])
        if m:
            out[norm(m.group(1))] = m.group(3)
    return out


def test_every_direct_dependency_is_pinned_and_mirrored():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    direct = project["dependencies"] + project["optional-dependencies"]["test"]
    pyproject = pins_of(direct)
    assert len(pyproject) == len(direct), "every dependency in pyproject.toml must be pinned with =="
    constraints = pins_of((ROOT / "constraints.txt").read_text().splitlines())
    env = pins_of((ROOT / "environment.yml").read_text().splitlines())
    env.pop("python", None)
    assert pyproject["torch"] == "2.13.0"
    for name, ver in pyproject.items():
        assert constraints.get(name) == ver, f"constraints.txt pins {name}=={constraints.get(name)}, pyproject {ver}"
        assert env.get(name) == ver, f"environment.yml pins {name}={env.get(name)}, pyproject {ver}"
    assert set(env) == set(pyproject), "environment.yml lists exactly the direct dependencies"


def test_installed_versions_are_the_pinned_ones():
    constraints = pins_of((ROOT / "constraints.txt").read_text().splitlines())
    for name in ("torch", "nbgrader", "jupyterlab", "ipywidgets", "matplotlib", "hypothesis", "pytest"):
        assert version(name).split("+")[0] == constraints[name], name
