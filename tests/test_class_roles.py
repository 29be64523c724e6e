"""Each role's nbgrader tools (issue #26), in ``make lab`` and in the class hub alike: a student's
server has the assignment list and Validate, and neither the formgrader, nor Create Assignment,
nor the course list (server extensions off, JupyterLab plugins disabled); an instructor's has them
all. Read from the configuration path ``make lab ROLE=...`` and the hub's spawner use."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.course.classroom import ClassFolder, role_config_path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STUDENT_HIDDEN = ["@jupyter/nbgrader:course-list", "@jupyter/nbgrader:create-assignment",
                  "@jupyter/nbgrader:formgrader"]


def make_lab_config_path(role: str) -> str:
    res = subprocess.run(["make", "-n", "lab", f"ROLE={role}"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    m = re.search(r"JUPYTER_CONFIG_PATH=(\S+?)\$\{", res.stdout)
    assert m, res.stdout
    return m.group(1)


def effective(config_path: str) -> tuple[dict, list[str]]:
    """(nbgrader's server extensions on or off, JupyterLab's disabled plugins) under ``config_path``."""
    env = dict(os.environ, JUPYTER_CONFIG_PATH=config_path)
    code = ("import json; from jupyter_core.paths import jupyter_config_path; "
            "from jupyter_server.extension.config import ExtensionConfigManager; "
            "m = ExtensionConfigManager(read_config_path=jupyter_config_path()); "
            "print(json.dumps({k: v for k, v in m.get_jpserver_extensions().items() if 'nbgrader' in k}))")
    ext = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert ext.returncode == 0, ext.stderr
    labs = subprocess.run([str(BIN / "jupyter"), "labextension", "list"], env=env, capture_output=True, text=True,
                          timeout=120)
    text = labs.stdout + labs.stderr
    disabled = text.split("Disabled extensions:", 1)[1].split() if "Disabled extensions:" in text else []
    return json.loads(ext.stdout), [d for d in disabled if d.startswith("@")]


@pytest.mark.parametrize("where", ["make lab", "class hub"])
def test_a_student_gets_the_assignment_list_and_validate_only(where, tmp_path):
    path = make_lab_config_path("student") if where == "make lab" else role_config_path(
        ClassFolder.at(tmp_path), "student")
    ext, disabled = effective(path)
    assert ext["nbgrader.server_extensions.assignment_list"] and ext["nbgrader.server_extensions.validate_assignment"]
    assert not ext["nbgrader.server_extensions.formgrader"] and not ext["nbgrader.server_extensions.course_list"]
    assert set(STUDENT_HIDDEN) <= set(disabled), disabled


def test_an_instructor_gets_every_tool_in_make_lab():
    ext, disabled = effective(make_lab_config_path("instructor"))
    assert all(ext.values()) and len(ext) == 4, ext
    assert not set(STUDENT_HIDDEN) & set(disabled), disabled


def test_make_lab_defaults_to_the_student_role():
    assert make_lab_config_path("student") in subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True,
                                                             text=True, timeout=60).stdout
