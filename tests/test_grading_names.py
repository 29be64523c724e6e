"""The judge owns every name (issue #23): submissions that try to make the judge read their names,
graded through `mlsys-grade` as a class would be.

Classes of route, each with a stub that used to score and must now score 0 (the old judge read
any name a test did not bind from the student's notebook):

* a module a lab's helper uses, rebound in the notebook (``math`` with an ``isclose`` that always
  says yes), and a locked helper rebound (``close``): the helper and the module are the judge's;
* a name a hidden part binds, which a later test reads: when the hidden part is skipped (its test
  failed), the student's own variable of that name is not read;
* a run helper replaced (lab 3's ``traced_run`` / ``real_run`` / ``check_trace``): the run is the
  judge's, its loop calls the student's scheduler at each step.

And honest work that used to lose points: a lab-3 solution whose statuses are the kit's own
``SeqStatus`` (a str enum) earns full marks.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.course.build import parse, render, to_notebook
from autograder.qa.check import solution_submission
from grading_helpers import ROOT, cell, grade

NAMES_LAB = "lab9-names"
AUTHORING = '''# lab9-names: a small lab whose tests read the lab's helpers and a name a hidden part binds

# %% kind="locked" id="setup"
import math


def close(a, b):
    """The lab's comparison helper."""
    return math.isclose(a, b, rel_tol=1e-12)

# %% kind="solution" id="area"
def area(r):
    ### BEGIN SOLUTION
    return math.pi * r * r
    ### END SOLUTION

# %% kind="test" id="test_area" points=2
assert close(area(1.0), math.pi)
### BEGIN HIDDEN TESTS
assert close(area(2.0), 4 * math.pi)
_nine = area(3.0)
### END HIDDEN TESTS

# %% kind="test" id="test_nine" points=1
assert close(_nine, 9 * math.pi)
'''

STUB = "def area(r):\n    return 0.0\n"
CASES_NAMES = {
    # name: (the solution cell, score)
    "honest": (None, 3),
    "stub": (STUB, 0),
    "rebinds-math": (STUB + "math = type('m', (), {'isclose': staticmethod(lambda *a, **k: True), 'pi': 3.14})\n", 0),
    "rebinds-helper": (STUB + "def close(a, b):\n    return True\n", 0),
    "binds-the-hidden-name": ("def area(r):\n    return math.pi if r == 1.0 else 0.0\n_nine = 9 * math.pi\n"
                              "def close(a, b):\n    return True\n", 0),
}


def names_course(root: Path) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    """A course holding the small lab above, released: (the release, the solution)."""
    shutil.copy(ROOT / "labs" / "nbgrader_config.py", root)
    src = root / "source" / NAMES_LAB / f"{NAMES_LAB}.ipynb"
    src.parent.mkdir(parents=True)
    src.write_text(render(to_notebook(parse(AUTHORING, NAMES_LAB))))
    res = grade("release", NAMES_LAB, course=root)
    assert res.returncode == 0, res.stderr
    rel = root / "release" / NAMES_LAB / f"{NAMES_LAB}.ipynb"
    return nbformat.read(rel, as_version=4), solution_submission(src, rel)


def graded(course: Path, lab: str, inbox: Path, timeout: str = "30") -> dict:
    res = grade("collect", lab, str(inbox), course=course)
    assert res.returncode == 0, res.stderr
    res = grade("autograde", lab, "--jobs", "2", "--timeout", timeout, "--json", course=course)
    assert res.returncode == 0, res.stderr
    return {r["student"]: r for r in json.loads(res.stdout)["results"]}


@pytest.fixture(scope="module")
def names(tmp_path_factory):
    course, inbox = tmp_path_factory.mktemp("names"), tmp_path_factory.mktemp("inbox")
    _release, solved = names_course(course)
    for name, (source, _score) in CASES_NAMES.items():
        nb = solved if source is None else cell(solved, "area", source)
        (inbox / f"{name}.ipynb").write_text(nbformat.writes(nb))
    return graded(course, NAMES_LAB, inbox)


@pytest.mark.parametrize("name", list(CASES_NAMES))
def test_only_the_labs_answers_are_read_from_the_notebook(names, name):
    r = names[name]
    assert (r["status"], r["score"]) == ("graded", CASES_NAMES[name][1]), r


# ---- lab 3: the run is the judge's ----------------------------------------------------------------
LAB3 = "lab3-continuous-batching"
FAKE_RUNS = '''
def preempt(sched, seq):
    pass

def schedule_decodes(sched, batch):
    return 0

def schedule_prefills(sched, batch, taken):
    pass

def check_trace(t, seats=None, budget=None):
    pass

def traced_run(spec, seats, budget=None, blocks=16, block_size=4):
    """What a perfect scheduler's run would report (chunked prefill, one request per step)."""
    steps = [{"need": 0, "free": blocks, "running": 1, "batch": [(0, 4, 12), (0, 12, 12)]}]
    return {"steps": steps, "seqs": [{"rid": 0, "finish": 1.0, "preemptions": 0, "generated": 1, "output_len": 1,
                                      "start": 0.0}]}

def real_run(spec, seats, budget=None, blocks=14, block_size=4):
    return []
'''
SEQSTATUS = "from mlsys_kit.serving.sequence import SeqStatus\n"


def _with_seqstatus(src: str) -> str:
    return SEQSTATUS + src.replace('"waiting"', "SeqStatus.WAITING").replace('"running"', "SeqStatus.RUNNING")


@pytest.fixture(scope="module")
def lab3(tmp_path_factory):
    course, inbox = tmp_path_factory.mktemp("lab3"), tmp_path_factory.mktemp("inbox3")
    shutil.copy(ROOT / "labs" / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "labs" / "source" / LAB3, course / "source" / LAB3)
    res = grade("release", LAB3, course=course)
    assert res.returncode == 0, res.stderr
    rel = course / "release" / LAB3 / f"{LAB3}.ipynb"
    solved = solution_submission(course / "source" / LAB3 / f"{LAB3}.ipynb", rel)
    fake = cell(nbformat.read(rel, as_version=4), "preempt", FAKE_RUNS)
    honest = nbformat.from_dict(solved)
    for c in honest.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") in ("preempt", "prefills"):
            c.source = _with_seqstatus(c.source)
    assert "SeqStatus.RUNNING" in json.dumps(honest.cells) and "SeqStatus.WAITING" in json.dumps(honest.cells)
    (inbox / "helpers-replaced.ipynb").write_text(nbformat.writes(fake))
    (inbox / "seqstatus-solution.ipynb").write_text(nbformat.writes(honest))
    return graded(course, LAB3, inbox, timeout="60")


def test_replaced_run_helpers_earn_nothing(lab3):
    r = lab3["helpers-replaced"]
    assert (r["status"], r["score"]) == ("graded", 0), r


def test_a_solution_with_the_kits_str_enum_earns_full_marks(lab3):
    r = lab3["seqstatus-solution"]
    assert (r["status"], r["score"]) == ("graded", 15), r
