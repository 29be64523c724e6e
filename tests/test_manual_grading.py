"""A design question graded by hand, through the real pipeline: nbgrader's gradebook holds the
answer as awaiting a manual grade, the instructor's summary and grades CSV say so (an ungraded
answer is not a failed test), and once the instructor grades it in the formgrader the total counts
it. The lab is the small one of tests/test_lab_sources.py (2 autograded points, a 1.5-point
answer with its rubric)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from autograder.course.build import build
from autograder.course.root import Course
from autograder.course.batch import autograde
from autograder.qa.check import solution_submission
from autograder.course.feedback import feedback
from autograder.course.report import class_summary, export
from test_lab_sources import GOOD

ROOT = Path(__file__).resolve().parents[1]


def test_an_answer_graded_by_hand(tmp_path):
    shutil.copy(ROOT / "labs" / "nbgrader_config.py", tmp_path)
    (tmp_path / "authoring").mkdir()
    (tmp_path / "authoring" / "lab9.py").write_text(GOOD)
    build(tmp_path, ["lab9"])
    course = Course(tmp_path)
    release = course.generate_assignment("lab9")
    solved = solution_submission(course.source_notebook("lab9"), release)
    for c in solved.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == "q_why":
            c.source = "Because a circle's area is pi r squared."
    for sid, nb in {"ada": solved, "bob": nbformat.read(release, as_version=4)}.items():
        dest = course.submitted_notebook("lab9", sid)
        dest.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, dest)
    summary = autograde(course, "lab9", jobs=1, progress=lambda m: None)
    res = {r["student"]: r for r in summary["results"]}
    assert (res["ada"]["score"], res["ada"]["max_score"], res["bob"]["score"]) == (2, 3.5, 0)

    with Gradebook(course.db_url) as gb:
        answer = gb.find_grade("q_why", "lab9", "lab9", "ada")
        assert answer.needs_manual_grade and answer.max_score == 1.5 and answer.score == 0
        assert gb.find_submission("lab9", "ada").needs_manual_grade
        assert not gb.find_grade("test_area", "lab9", "lab9", "ada").needs_manual_grade
        rubric = gb.find_source_cell("q_why_rubric", "lab9", "lab9")  # what the formgrader shows
        assert "names the circle's area formula" in rubric.source
    graded = nbformat.read(tmp_path / "autograded" / "ada" / "lab9" / "lab9.ipynb", as_version=4)
    assert "pi r squared" in "".join(c.source for c in graded.cells)
    assert "names the circle's area formula" not in release.read_text()

    with Gradebook(course.db_url) as gb:  # an answer left as released earns 0 with no one to grade it
        blank = gb.find_grade("q_why", "lab9", "lab9", "bob")
        assert not blank.needs_manual_grade and blank.score == 0
    pages = {p.parts[-3]: p.read_text() for p in feedback(course, "lab9")}
    assert "pi r squared" in pages["ada"] and "area formula" not in pages["ada"]  # the rubric is the instructor's
    s = class_summary(course, "lab9")
    assert s["manual_points"] == 1.5 and s["awaiting_manual_grade"] == {"q_why": 1}
    assert "q_why" not in s["failing_per_test"] and s["failing_per_test"]["test_area"] == 1
    assert s["most_common_failing_test"] == {"test": "test_area", "students": 1}
    export(course, tmp_path / "grades.csv")
    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "grades.csv"))}
    assert rows["ada"]["needs_manual_grade"] == "True" and float(rows["ada"]["total"]) == 2
    assert float(rows["ada"]["max_total"]) == 3.5

    with Gradebook(course.db_url) as gb:  # the instructor grades the answer (as the formgrader does)
        answer = gb.find_grade("q_why", "lab9", "lab9", "ada")
        answer.manual_score = 1.5
        answer.needs_manual_grade = False
        gb.db.commit()
    export(course, tmp_path / "grades.csv")
    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "grades.csv"))}
    assert float(rows["ada"]["total"]) == 3.5 and rows["ada"]["needs_manual_grade"] == "False"
    assert class_summary(course, "lab9")["awaiting_manual_grade"] == {"q_why": 0}
    with Gradebook(course.db_url) as gb:  # the rubric (a 0-point task) awaits no one
        assert not gb.find_submission("lab9", "ada").needs_manual_grade
