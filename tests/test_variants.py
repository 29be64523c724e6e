"""A variant per student (issue #25), through `mlsys-grade` as a class is graded.

A small lab whose hidden test draws its input from ``student_rng()`` and (a bug in the lab) can
only be passed on some draws: each student's draw is their own (the course's secret, their id,
the lab, the test cell), the same on a regrade, and in no notebook; the class summary names the
students who failed a hidden part after passing the visible one, with their variants; and
``summary --check-variants`` runs the lab's own solution on exactly those variants and says the
lab is at fault there.
"""

from __future__ import annotations

import json
import random
import shutil

import nbformat
import pytest

from autograder.course.build import parse, render, to_notebook
from autograder.submission.differential import course_secret
from autograder.submission.differential import Variant
from autograder.qa.check import solution_submission
from grading_helpers import ROOT, grade

LAB = "lab9-variants"
AUTHORING = '''# lab9-variants: a lab with a hidden test that only some students' draws can pass (a bug on purpose)

# %% kind="solution" id="double"
def double(x):
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION

# %% kind="test" id="test_double" points=2
assert double(3) == 6, "double(3) should be 6"
### BEGIN HIDDEN TESTS
_x = student_rng().randint(0, 99)
print("drew", _x)
assert double(_x) == 2 * _x and _x % 2 == 0  # the lab's bug: odd draws cannot pass
### END HIDDEN TESTS
'''
STUDENTS = [f"s{i}" for i in range(8)]


def draw(secret: bytes, student: str) -> int:
    return random.Random(Variant(secret, LAB, student).seed("test_double")).randint(0, 99)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course, inbox = tmp_path_factory.mktemp("variants"), tmp_path_factory.mktemp("inbox")
    shutil.copy(ROOT / "labs" / "nbgrader_config.py", course)
    src = course / "source" / LAB / f"{LAB}.ipynb"
    src.parent.mkdir(parents=True)
    src.write_text(render(to_notebook(parse(AUTHORING, LAB))))
    assert grade("release", LAB, course=course).returncode == 0
    solved = solution_submission(src, course / "release" / LAB / f"{LAB}.ipynb")
    for s in STUDENTS:
        (inbox / f"{s}.ipynb").write_text(nbformat.writes(solved))
    assert grade("collect", LAB, str(inbox), course=course).returncode == 0
    res = grade("autograde", LAB, "--jobs", "2", "--json", course=course)
    assert res.returncode == 0, res.stderr
    return course, {r["student"]: r for r in json.loads(res.stdout)["results"]}


def test_each_student_draws_their_own_input_and_a_regrade_the_same(graded):
    course, results = graded
    secret = course_secret(course)
    draws = {s: draw(secret, s) for s in STUDENTS}
    assert len(set(draws.values())) > 1  # not one input for everyone
    for s in STUDENTS:
        want = 2.0 if draws[s] % 2 == 0 else 0.0
        assert results[s]["score"] == want, (s, draws[s], results[s])
        text = json.dumps(nbformat.read(course / "autograded" / s / LAB / f"{LAB}.ipynb", as_version=4).cells)
        assert f"drew {draws[s]}" in text  # the instructor's copy shows what was drawn
    released = (course / "release" / LAB / f"{LAB}.ipynb").read_text()
    assert "student_rng" not in released and secret.hex() not in released
    res = grade("autograde", LAB, "--student", "s0", "--force", "--json", course=course)
    again = {r["student"]: r for r in json.loads(res.stdout)["results"]}
    assert again["s0"]["score"] == results["s0"]["score"]


def test_the_summary_finds_the_variants_the_solution_itself_fails(graded):
    course, _ = graded
    secret = course_secret(course)
    odd = sorted(s for s in STUDENTS if draw(secret, s) % 2)
    assert odd, "with 8 students some draw odd (probability 1 - 2**-8)"
    res = grade("summary", LAB, "--json", "--check-variants", course=course)
    assert res.returncode == 0, res.stderr
    s = json.loads(res.stdout)
    assert s["hidden_failures"] == {"test_double": odd}
    assert set(s["variants"]) == set(STUDENTS) and len(set(s["variants"].values())) == len(STUDENTS)
    assert sorted(s["variant_check"]) == odd
    assert all(v["failed"] == ["test_double"] for v in s["variant_check"].values())
    text = grade("summary", LAB, "--check-variants", course=course).stdout
    assert "THE LAB'S OWN SOLUTION FAILS" in text and odd[0] in text
