"""Feedback and grade export.

Feedback is nbgrader's own (``generate_feedback``: one HTML page per student). The export is
one CSV row per student per lab, read from nbgrader's gradebook and our grading record, so a
submission that erred is a row with its reason, never a missing line:

    student_id,lab,status,total,max_total,reason,notes,<lab>:<test cell>...
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from autograder.course import Course, CourseError, error_lines

FIXED = ["student_id", "lab", "status", "total", "max_total", "reason", "notes"]


def feedback(course: Course, lab: str) -> list[Path]:
    """Generate the feedback HTML of every autograded submission of ``lab``."""
    course.check_lab(lab)
    if not (course.root / "autograded").is_dir():
        raise CourseError(f"nothing autograded yet: run `mlsys-grade autograde {lab}` first")
    res = course.nbgrader("generate_feedback", lab, "--force", timeout=1800)
    made = sorted((course.root / "feedback").glob(f"*/{lab}/*.html"))
    if res.returncode != 0 and not made:
        raise CourseError(f"nbgrader could not generate feedback for {lab}: {error_lines(res.output)}")
    return made


def rows(course: Course, labs: list[str] | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    from nbgrader.api import Gradebook, MissingEntry

    labs = [course.check_lab(lab) for lab in labs] if labs else course.labs()
    header, out = list(FIXED), []
    with Gradebook(course.db_url) as gb:
        students = sorted(s.id for s in gb.students)
        for lab in labs:
            try:
                assignment = gb.find_assignment(lab)
            except MissingEntry:
                continue  # never released: nothing to grade
            cells = [c.name for nb in assignment.notebooks for c in nb.grade_cells if c.max_score > 0]
            header += [f"{lab}:{c}" for c in cells]
            log = course.read_log(lab)["students"]
            for sid in sorted(set(students) | set(log)):
                rec = log.get(sid, {})
                row: dict[str, Any] = {"student_id": sid, "lab": lab, "max_total": assignment.max_score,
                                       "reason": rec.get("reason") or "", "notes": " | ".join(rec.get("notes", []))}
                try:
                    sub = gb.find_submission(lab, sid)
                    row["total"] = sub.score
                    row.update({f"{lab}:{g.name}": g.score for nb in sub.notebooks for g in nb.grades
                                if g.max_score > 0})
                    row["status"] = rec.get("status", "graded")
                except MissingEntry:
                    row["total"] = 0.0
                    row["status"] = rec.get("status") if rec.get("status") == "error" else "missing"
                    row["reason"] = row["reason"] or "no submission"
                if row["status"] == "error" and rec.get("score") == 0:
                    row["total"] = 0.0  # e.g. stopped at the notebook limit: nothing earned is kept
                out.append(row)
    return header, out


def export(course: Course, path: str | Path, labs: list[str] | None = None) -> int:
    """Write the grades CSV to ``path``; returns the number of rows."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        raise CourseError(f"--to must name a .csv file: got {str(path)!r}")
    header, data = rows(course, labs)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, restval="")
        w.writeheader()
        w.writerows(data)
    return len(data)
