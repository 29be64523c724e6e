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

from autograder.qa.check import apply_mutant, load_mutant, solution_submission

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


def by_id(nb, grade_id: str):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def duplicated(nb):
    """A test cell and a solution cell copy-pasted (JupyterLab gives a pasted cell a new id)."""
    nb = nbformat.from_dict(nb)
    for gid in ("test_kv_bytes", "param_count"):
        i = nb.cells.index(by_id(nb, gid))
        copy = nbformat.from_dict(nb.cells[i])
        copy["id"] = f"{copy.get('id', gid)}-copy"
        nb.cells.insert(i + 1, copy)
    return nb


def moved(nb):
    """A test cell dragged to the top of the notebook."""
    nb = nbformat.from_dict(nb)
    test = by_id(nb, "test_param_count")
    nb.cells.remove(test)
    nb.cells.insert(0, test)
    return nb


def odd_metadata(nb):
    """nbgrader metadata as an older nbgrader wrote it, and a cell with a grade id of its own."""
    nb = nbformat.from_dict(nb)
    for c in nb.cells:
        meta = c.metadata.get("nbgrader")
        if meta:
            meta["schema_version"] = 1
            meta.pop("task", None)
    extra = nbformat.v4.new_code_cell("bonus = 1")
    extra.metadata["nbgrader"] = {"grade_id": "bonus", "grade": True, "points": 100, "solution": False,
                                  "locked": False, "schema_version": 3}
    nb.cells.append(extra)
    return nb


ACTIVE = ("from IPython.display import HTML, SVG, display\n"
          "display(HTML('<script>alert(\"kim\")</script><b onmouseover=\"alert(1)\">bold</b>'))\n"
          "display(SVG('<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(2)\"><circle r=\"3\"/></svg>'))\n"
          "display({'application/javascript': 'alert(3)', 'text/plain': 'js'}, raw=True)\n")


def loud(nb):
    """Just under the per-cell output limit (1 MiB) in each of the five solution cells: 4.7 MB in all."""
    nb = nbformat.from_dict(nb)
    for gid in ("param_count", "kv_bytes", "flops", "roofline", "fit"):
        c = by_id(nb, gid)
        c.source = "from IPython.display import display\ndisplay({'text/plain': 'z' * 950_000}, raw=True)\n" + c.source
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
    put("hank.ipynb", duplicated(solved))
    put("ivy.ipynb", moved(solved))
    put("jack.ipynb", odd_metadata(solved))
    put("kim.ipynb", loud(set_cell(solved, "kv_bytes", ACTIVE + by_id(solved, "kv_bytes").source)))
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


FULL, MAX = 14, 16  # lab 0's autograded maximum; with its 2-point design answer graded by hand
RUBRIC = "Typical wrong answer (0 points for that part)"  # words of lab 0's rubric (cell q_decode_why_rubric)
EXPECTED = {  # student: (status, total before the answer is graded by hand)
    "alice": ("graded", FULL), "bob": ("graded", 9), "carol": ("error", 0), "dave": ("graded", 8),
    "erin": ("graded", FULL), "frank": ("error", 0), "gina": ("error", 0), "released-unchanged": ("graded", 0),
    "doejane": ("graded", FULL), "smithj": ("graded", 9),
    "hank": ("graded", FULL), "ivy": ("graded", FULL), "jack": ("graded", FULL), "kim": ("graded", FULL),
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
    assert "11 graded, 3 errors" in progress
    assert notes["hank"] == [
        "solution cell 'param_count' appeared 2 times (copy-pasted): every copy runs in the student's order; the "
        "last edited one is the graded answer",
        "test cell 'test_kv_bytes' appeared 2 times (copy-pasted): graded once, as the instructor wrote it"]
    assert notes["ivy"] == ["cells out of the lab's order were put back in place, each with the student's cells "
                            "that followed it: 'test_param_count'"]
    assert len(notes["jack"]) == 2 and notes["jack"][0].startswith("nbgrader metadata of 'intro', 'setup'")
    assert notes["jack"][1] == "cells with grade ids this lab does not have ('bonus'): graded as ordinary cells"
    cap = [n for n in notes["kim"] if n.startswith("outputs came to ")]
    assert len(cap) == 1 and "over the cap of 4 MiB per submission" in cap[0] and cap[0].endswith(
        "in the autograded notebook (grades unaffected)"), notes["kim"]
    assert "SAWarning" not in progress and "Warning" not in progress
    quiet = ("dave", "erin", "hank", "ivy", "jack", "kim")
    assert not [n for s, n in notes.items() if n and s not in quiet], notes  # no false flags


def active_content(page: str) -> dict:
    """The scripts a page runs and the event-handler attributes or script URLs it carries."""
    from html.parser import HTMLParser

    class Reader(HTMLParser):
        scripts: list = []
        handlers: list = []
        inside = False

        def handle_starttag(self, tag, attrs):
            self.inside = tag == "script"
            self.handlers += [f"{tag}[{k}]" for k, v in attrs
                              if k.startswith("on") or (v or "").strip().lower().startswith("javascript:")]

        def handle_data(self, data):
            if self.inside:
                self.scripts.append(data)

        def handle_endtag(self, tag):
            self.inside = False

    r = Reader()
    r.scripts, r.handlers = [], []
    r.feed(page)
    return {"scripts": r.scripts, "handlers": r.handlers}


def read_csv(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def test_feedback_and_export(graded, course, tmp_path):
    res = grade("feedback", LAB, course=course)
    assert res.returncode == 0, res.stderr
    assert (course / "feedback" / "alice" / LAB / f"{LAB}.html").is_file()
    mine = (course / "feedback" / "alice" / LAB / f"{LAB}.html").read_text()  # a student's page shows no rubric
    assert "throughput grows nearly for free" in mine and RUBRIC not in mine and "MARK SCHEME" not in mine
    page = (course / "feedback" / "kim" / LAB / f"{LAB}.html").read_text()
    found = active_content(page)
    assert found["scripts"] and not [s for s in found["scripts"] if "alert" in s]  # only the template's own
    assert found["handlers"] == [] and "<b>bold</b>" not in page  # kim's cell ran after a hidden test: no output shown
    assert "[outputs not shown: this cell ran after the hidden tests of" in page
    shown = nbformat.read(course / "autograded" / "kim" / LAB / f"{LAB}.ipynb", as_version=4)  # the formgrader's
    html = [o["data"].get("text/html", "") for o in by_id(shown, "kv_bytes").outputs if "data" in o]
    assert any("<b>bold</b>" in h for h in html) and any('<img src="data:image/svg+xml;base64,' in h for h in html)
    assert not active_content("".join(html))["scripts"] and not active_content("".join(html))["handlers"]
    res = grade("export", "--to", str(tmp_path / "grades.csv"), course=course)
    assert res.returncode == 0, res.stderr
    rows = {r["student_id"]: r for r in read_csv(tmp_path / "grades.csv")}
    assert set(rows) == set(EXPECTED) | {"notes.txt", "__MACOSX/._junk"}  # files rejected at collect have rows too
    assert [(rows[f]["status"], rows[f]["file"]) for f in ("notes.txt", "__MACOSX/._junk")] == [
        ("rejected", "notes.txt"), ("rejected", "__MACOSX/._junk")]
    for sid, (status, total) in EXPECTED.items():
        assert (rows[sid]["status"], float(rows[sid]["total"])) == (status, total), sid
        assert float(rows[sid]["max_total"]) == MAX
    cells = [k for k in rows["alice"] if k.startswith(f"{LAB}:")]
    assert cells == [f"{LAB}:{c}" for c in ("test_param_count", "test_kv_bytes", "test_flops", "test_roofline",
                                             "test_fit", "test_decode_batch", "q_decode_why")]
    assert sum(float(rows["bob"][c]) for c in cells) == 9
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
    (["autograde", LAB, "--deadline", "0"], "--deadline must be a positive finite number: got 0.0"),
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



def test_an_answer_graded_by_hand_in_the_real_pipeline(graded, course, tmp_path):
    """Lab 0's closing "why" answer after `mlsys-grade autograde`: nbgrader's gradebook holds it as
    awaiting a manual grade with its 2 points while the solution has every autograded point; the
    released notebook has no rubric, the source cell and the autograded notebook the formgrader
    renders have it; once the instructor grades it (as the formgrader does), the export counts it."""
    from nbgrader.api import Gradebook

    summary, _ = graded
    res = {r["student"]: r for r in summary["results"]}
    assert (res["alice"]["score"], res["alice"]["max_score"]) == (FULL, MAX)
    assert (res["released-unchanged"]["score"], res["released-unchanged"]["max_score"]) == (0, MAX)
    source = nbformat.read(course / "source" / LAB / f"{LAB}.ipynb", as_version=4)
    db = f"sqlite:///{course / 'gradebook.db'}"
    with Gradebook(db) as gb:
        notebook = gb.find_notebook(LAB, LAB)
        auto = [g.name for g in notebook.grade_cells if g.cell_type == "code"]
        assert [(g.name, g.max_score) for g in notebook.grade_cells if g.cell_type == "markdown"] == [("q_decode_why", 2)]
        assert [(t.name, t.max_score) for t in notebook.task_cells] == [("q_decode_why_rubric", 0)]
        assert sum(gb.find_grade_cell(n, LAB, LAB).max_score for n in auto) == FULL
        grades = {n: gb.find_grade(n, LAB, LAB, "alice") for n in auto}
        assert sum(g.score for g in grades.values()) == FULL and not any(g.needs_manual_grade for g in grades.values())
        answer = gb.find_grade("q_decode_why", LAB, LAB, "alice")
        assert answer.needs_manual_grade and answer.max_score == 2 and answer.score == 0 and answer.manual_score is None
        assert gb.find_submission(LAB, "alice").needs_manual_grade
        blank = gb.find_grade("q_decode_why", LAB, LAB, "released-unchanged")  # left as released: 0, nothing to read
        assert not blank.needs_manual_grade and blank.score == 0
        assert RUBRIC in gb.find_source_cell("q_decode_why_rubric", LAB, LAB).source
    release = (course / "release" / LAB / f"{LAB}.ipynb").read_text()
    assert RUBRIC not in release and "MARK SCHEME" not in release
    released = nbformat.read(course / "release" / LAB / f"{LAB}.ipynb", as_version=4)
    assert by_id(released, "q_decode_why").source == "YOUR ANSWER HERE"
    assert not [c for c in released.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "q_decode_why_rubric"]
    shown = nbformat.read(course / "autograded" / "alice" / LAB / f"{LAB}.ipynb", as_version=4)  # the formgrader's page
    assert RUBRIC in by_id(shown, "q_decode_why_rubric").source
    assert by_id(shown, "q_decode_why").source == by_id(source, "q_decode_why").source  # alice's answer, as submitted
    assert shown.cells.index(by_id(shown, "q_decode_why_rubric")) == shown.cells.index(by_id(shown, "q_decode_why")) + 1

    with Gradebook(db) as gb:  # the instructor gives 1.5 of 2 points in the formgrader
        answer = gb.find_grade("q_decode_why", LAB, LAB, "alice")
        answer.manual_score, answer.needs_manual_grade = 1.5, False
        gb.db.commit()
    try:
        assert grade("export", "--to", str(tmp_path / "g.csv"), course=course).returncode == 0
        row = next(r for r in read_csv(tmp_path / "g.csv") if r["student_id"] == "alice")
        assert (float(row["total"]), float(row["max_total"]), row["needs_manual_grade"]) == (FULL + 1.5, MAX, "False")
        assert float(row[f"{LAB}:q_decode_why"]) == 1.5
    finally:  # back as autograde left it, for any test that runs later
        with Gradebook(db) as gb:
            answer = gb.find_grade("q_decode_why", LAB, LAB, "alice")
            answer.manual_score, answer.needs_manual_grade = None, True
            gb.db.commit()
