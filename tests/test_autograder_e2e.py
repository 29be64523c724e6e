"""End to end on real nbgrader: release, collect (folder and LMS zip), autograde a batch with
broken and hostile submissions at --jobs 2, feedback, export; then again (idempotent)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.qa import apply_mutant, load_mutant, solution_submission

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab0-costs"
BIN = Path(sys.executable).parent


def grade(*args: str, course: Path) -> subprocess.CompletedProcess:
    res = subprocess.run([str(BIN / "mlsys-grade"), *args, "--course", str(course)], capture_output=True, text=True,
                         timeout=900)
    return res


def set_cell(nb, grade_id: str, source: str):
    nb = nbformat.from_dict(nb)
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            c.source = source
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "labs" / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "labs" / "source" / LAB, root / "source" / LAB)
    return root


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory):
    res = grade("release", LAB, course=course)
    assert res.returncode == 0, res.stdout + res.stderr
    release = course / "release" / LAB / f"{LAB}.ipynb"
    solved = solution_submission(course / "source" / LAB / f"{LAB}.ipynb", release)
    inbox = tmp_path_factory.mktemp("inbox")

    def put(name: str, nb=None, text: str | None = None):
        (inbox / name).write_text(text if text is not None else nbformat.writes(nb))

    put("alice.ipynb", solved)
    _, edits = load_mutant(ROOT / "autograder" / "mutants" / LAB / "kv_only_keys.py")
    put("bob.ipynb", apply_mutant(solved, "kv_only_keys", edits))  # partially correct
    put("carol.ipynb", text='{"cells": [ not json')
    put("dave.ipynb", set_cell(solved, "param_count", "while True:\n    pass"))
    deleted = nbformat.from_dict(solved)
    deleted.cells = [c for c in deleted.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_kv_bytes"]
    put("erin.ipynb", deleted)
    put("frank.ipynb", set_cell(solved, "kv_bytes", "import os\nos._exit(1)"))
    put("gina.ipynb", text="")
    put("released-unchanged_lab0-costs.ipynb", nbformat.read(release, as_version=4))
    put("notes.txt", text="not a notebook")
    res = grade("collect", LAB, str(inbox), course=course)
    assert res.returncode == 0, res.stderr
    assert "rejected notes.txt: not a notebook" in res.stdout

    zpath = tmp_path_factory.mktemp("lms") / "canvas.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("doejane_LATE_12345_67890_lab0-costs.ipynb", nbformat.writes(solved))
        zf.writestr("smithj/lab0-costs.ipynb", nbformat.writes(apply_mutant(solved, "kv", edits)))
        zf.writestr("__MACOSX/._junk", "x")
    res = grade("collect", LAB, str(zpath), course=course)
    assert res.returncode == 0, res.stderr
    assert "collected 2 submissions" in res.stdout and "doejane" in res.stdout and "smithj" in res.stdout

    res = grade("autograde", LAB, "--jobs", "2", "--timeout", "3", "--json", course=course)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout), res.stderr


EXPECTED = {  # student: (status, total)
    "alice": ("graded", 12), "bob": ("graded", 7), "carol": ("error", 0), "dave": ("graded", 6),
    "erin": ("graded", 12), "frank": ("error", 0), "gina": ("error", 0), "released-unchanged": ("graded", 0),
    "doejane": ("graded", 12), "smithj": ("graded", 7),
}


def test_batch_never_stops_and_every_submission_has_a_fate(graded):
    summary, progress = graded
    assert summary["submissions"] == len(EXPECTED)
    assert {r["student"]: (r["status"], r["score"]) for r in summary["results"]} == EXPECTED
    reasons = {e["student"]: e["reason"] for e in summary["errors"]}
    assert reasons["carol"].startswith("not a valid notebook")
    assert reasons["gina"] == "the submitted notebook is an empty file"
    assert "the kernel died" in reasons["frank"]
    notes = {r["student"]: r["notes"] for r in summary["results"]}
    assert notes["dave"] == ["cell 'param_count' ran past 3 s and was interrupted"]
    assert notes["erin"] == ["test cell 'test_kv_bytes' was deleted: the instructor's version was put back and graded"]
    assert f"[{len(EXPECTED)}/{len(EXPECTED)}]" in progress  # progress as it goes
    assert "7 graded, 3 errors" in progress
    assert not [n for s, n in notes.items() if n and s not in ("dave", "erin")], notes  # no false flags


def read_csv(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def test_feedback_and_export(graded, course, tmp_path):
    res = grade("feedback", LAB, course=course)
    assert res.returncode == 0, res.stderr
    assert (course / "feedback" / "alice" / LAB / f"{LAB}.html").is_file()
    res = grade("export", "--to", str(tmp_path / "grades.csv"), course=course)
    assert res.returncode == 0, res.stderr
    rows = {r["student_id"]: r for r in read_csv(tmp_path / "grades.csv")}
    assert set(rows) == set(EXPECTED)
    for sid, (status, total) in EXPECTED.items():
        assert (rows[sid]["status"], float(rows[sid]["total"])) == (status, total), sid
        assert float(rows[sid]["max_total"]) == 12
    cells = [k for k in rows["alice"] if k.startswith(f"{LAB}:")]
    assert cells == [f"{LAB}:{c}" for c in ("test_param_count", "test_kv_bytes", "test_flops", "test_roofline",
                                             "test_fit")]
    assert sum(float(rows["bob"][c]) for c in cells) == 7
    assert rows["frank"]["reason"] and rows["erin"]["notes"]

    # idempotent: grading the whole batch again changes nothing in the export
    res = grade("autograde", LAB, "--jobs", "2", "--timeout", "3", course=course)
    assert res.returncode == 0, res.stderr
    grade("export", "--to", str(tmp_path / "again.csv"), course=course)
    assert read_csv(tmp_path / "again.csv") == read_csv(tmp_path / "grades.csv")


@pytest.mark.parametrize("args, message", [
    (["autograde", "nolab"], "no lab 'nolab'"),
    (["autograde", LAB, "--jobs", "0"], "--jobs must be a positive integer: got 0"),
    (["autograde", LAB, "--timeout", "-1"], "--timeout must be a positive finite number"),
    (["autograde", LAB, "--student", "zed"], "no submission of lab0-costs for zed"),
    (["collect", LAB, "/nonexistent/folder"], "does not exist"),
    (["export", "--to", "grades.txt"], "--to must name a .csv file"),
    (["release"], "give one LAB or --all"),
    (["qa", "../etc"], "lab names are letters, digits"),
])
def test_bad_input_is_rejected_clearly(course, args, message):
    res = grade(*args, course=course)
    assert res.returncode == 2, res.stdout + res.stderr
    assert message in res.stderr


def test_not_a_course_root(tmp_path):
    res = grade("autograde", LAB, course=tmp_path)
    assert res.returncode == 2 and "is not an nbgrader course root" in res.stderr
