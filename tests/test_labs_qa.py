"""Lab QA (what `make qa` runs) on every lab of the course, and proof that QA itself can fail."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.course.build import build
from autograder.course.root import Course, CourseError
from autograder.qa.check import MUTANTS, manual_points, qa_lab

ROOT = Path(__file__).resolve().parents[1]
COURSE = Course(ROOT / "labs")
MIN_MUTANTS = {"lab0-costs": 5}  # every later lab: at least 6
CI_SAMPLE = 12  # automatic mutants per lab in `make test` (a fixed choice); `make qa` runs all of them


@pytest.mark.parametrize("lab", COURSE.labs())
def test_lab_passes_qa(lab):
    n = len(list((MUTANTS / lab).glob("*.py")))
    assert n >= MIN_MUTANTS.get(lab, 6), f"{lab} has {n} mutants"
    report = qa_lab(COURSE, lab, jobs=2, sample=CI_SAMPLE)
    assert report["ok"], report["failures"]
    assert report["solution"] == report["max_score"] > 0 and report["stub"] == 0
    assert report["manual_points"] == manual_points(COURSE.source_notebook(lab))
    assert len(report["mutants"]) == n and all(not m["survives_on"] and m["failed"] for m in report["mutants"].values())
    cov, auto = report["coverage"], report["automatic_mutants"]
    assert cov["solution_failed_tests"] == [] and cov["statements"] > 0
    assert auto["run"] == min(CI_SAMPLE, auto["total"] - auto["equivalent"])
    if report["enforced"]:  # the lab's qa.toml makes coverage and the automatic mutants gates
        assert cov["percent"] == 100.0 and auto["survivors"] == []


def test_qa_fails_a_lab_whose_tests_do_not_tell_right_from_wrong(tmp_path):
    lab = "lab0-costs"
    shutil.copy(ROOT / "labs" / "nbgrader_config.py", tmp_path)
    shutil.copytree(ROOT / "labs" / "source" / lab, tmp_path / "source" / lab)
    nb_path = tmp_path / "source" / lab / f"{lab}.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_flops":
            cell.source = "assert True  # a test that tests nothing"
    nbformat.write(nb, nb_path)
    mutants = tmp_path / "mutants" / lab
    mutants.mkdir(parents=True)
    shutil.copy(MUTANTS / lab / "flops_no_attention.py", mutants)
    report = qa_lab(Course(tmp_path), lab, jobs=2, mutants_dir=tmp_path / "mutants", fast=False)
    assert not report["ok"]
    assert any("released version earns 2 points without any work" in f for f in report["failures"])
    assert any("flops_no_attention.py" in f and "earns full marks" in f for f in report["failures"])
    # as make test runs QA: the hand-written mutant judged in the fast runs, for every student variant
    shutil.copy(MUTANTS / lab / "qa.toml", mutants)
    report = qa_lab(Course(tmp_path), lab, jobs=2, mutants_dir=tmp_path / "mutants", sample=1)
    assert any("flops_no_attention.py" in f and "earns full marks for qa-student-0" in f
               for f in report["failures"]), report["failures"]


def test_stale_mutant_is_an_error(tmp_path):
    lab = "lab0-costs"
    (tmp_path / lab).mkdir()
    (tmp_path / lab / "stale.py").write_text('"""A bug in code that is no longer there."""\n'
                                             'EDITS = [("kv_bytes", "no such text", "x")]\n')
    with pytest.raises(CourseError, match="stale mutant stale.py"):
        qa_lab(COURSE, lab, mutants_dir=tmp_path)
    (tmp_path / lab / "stale.py").write_text('EDITS = [("kv_bytes", "2", "3")]\n')
    with pytest.raises(CourseError, match="docstring must describe the bug"):
        qa_lab(COURSE, lab, mutants_dir=tmp_path)


def test_manual_points_are_reported_apart(tmp_path):
    """A design question graded by hand (an nbgrader answer cell with points, its rubric a task
    cell): nbgrader leaves its points to the instructor, so QA checks the solution, the stub and
    the mutants against the autograded maximum and reports the manual points beside it."""
    from test_lab_sources import GOOD

    shutil.copy(ROOT / "labs" / "nbgrader_config.py", tmp_path)
    (tmp_path / "authoring").mkdir()
    (tmp_path / "authoring" / "lab9.py").write_text(GOOD)
    build(tmp_path, ["lab9"])
    mutants = tmp_path / "mutants" / "lab9"
    mutants.mkdir(parents=True)
    (mutants / "diameter.py").write_text('"""The area of a circle of diameter r."""\n'
                                         'EDITS = [("area", "math.pi * r * r", "math.pi * r * r / 4")]\n')
    course = Course(tmp_path)
    assert manual_points(course.source_notebook("lab9")) == 1.5
    report = qa_lab(course, "lab9", jobs=2, mutants_dir=tmp_path / "mutants", fast=False)
    assert report["ok"], report["failures"]
    assert (report["max_score"], report["manual_points"], report["solution"], report["stub"]) == (2, 1.5, 2, 0)
    assert report["mutants"]["diameter.py"]["score"] == 0
