"""Autograde a whole class on nbgrader, never stopping on a bad submission.

Each submission is graded by ``nbgrader autograde LAB --student ID --force`` in its own process
group with a per-cell limit (nbgrader interrupts the cell and runs the rest) and a per-notebook
wall limit (we kill the group). nbgrader writes the grades to its gradebook; we record each
submission's fate in ``grading/<lab>.json``: ``graded`` with notes (a cell that timed out, a
test cell the student deleted) or ``error`` with the reason (not a notebook, kernel died, ran
past the notebook limit). A submission that errs still has its zero grades in the gradebook
whenever nbgrader got as far as creating them, and is never missing from the export.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable

import nbformat

from autograder.course import Course, CourseError, error_lines


def grade_cells(nb_path: Path) -> list[str]:
    """grade_ids of the autograded test cells of a notebook, in order."""
    nb = nbformat.read(nb_path, as_version=4)
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]


def precheck(course: Course, lab: str, student: str) -> tuple[str | None, list[str]]:
    """(fatal reason or None, notes) from reading the submission before grading it."""
    path = course.submitted_notebook(lab, student)
    if not path.is_file():
        return f"no {lab}.ipynb in submitted/{student}/{lab}/", []
    if path.stat().st_size == 0:
        return "the submitted notebook is an empty file", []
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # any reason a notebook cannot be read is the student's error
        return f"not a valid notebook: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}", []
    have = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb.cells}
    missing = [g for g in grade_cells(course.source_notebook(lab)) if g not in have]
    return None, [f"test cell {g!r} was deleted from the submission: it scores 0" for g in missing]


def postcheck(course: Course, lab: str, student: str, cell_timeout: float) -> list[str]:
    path = course.autograded_notebook(lab, student)
    if not path.is_file():
        return []
    notes = []
    for cell in nbformat.read(path, as_version=4).cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and out.get("ename") == "CellTimeoutError":
                gid = cell.metadata.get("nbgrader", {}).get("grade_id", cell.get("id", "?"))
                notes.append(f"cell {gid!r} ran past {cell_timeout:g} s and was interrupted")
    return notes


def read_score(course: Course, lab: str, student: str) -> tuple[float, float, dict[str, float]]:
    """(score, max score, per-cell scores) from the gradebook; 0 when no submission is there."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url) as gb:
        max_score = gb.find_assignment(lab).max_score
        try:
            sub = gb.find_submission(lab, student)
        except MissingEntry:
            return 0.0, max_score, {}
        cells = {g.name: float(g.score) for nb in sub.notebooks for g in nb.grades if g.max_score > 0}
        return float(sub.score), float(sub.max_score), cells


def grade_one(course: Course, lab: str, student: str, cell_timeout: float, notebook_timeout: float) -> dict[str, Any]:
    fatal, notes = precheck(course, lab, student)
    args = ("autograde", lab, "--student", student, "--force", f"--Execute.timeout={max(1, round(cell_timeout))}")
    for attempt in range(3):
        res = course.nbgrader(*args, timeout=notebook_timeout)
        if "database is locked" not in res.output or res.returncode == 0:
            break
        time.sleep(0.5 * (attempt + 1))
    notes += postcheck(course, lab, student, cell_timeout)
    if res.timed_out:
        reason = f"grading ran past the notebook limit of {notebook_timeout:g} s and was stopped"
    elif res.returncode != 0:
        reason = fatal or error_lines(res.output)
    else:
        reason = fatal
    score, max_score, cells = read_score(course, lab, student)
    record = {"status": "error" if reason else "graded", "reason": reason, "notes": notes,
              "score": score if not res.timed_out else 0.0, "max_score": max_score, "cells": cells,
              "seconds": round(res.seconds, 2)}
    course.update_log(lab, student, **record)
    return record | {"student": student}


def autograde(course: Course, lab: str, students: list[str] | None = None, jobs: int = 1,
              cell_timeout: float = 60, notebook_timeout: float | None = None,
              progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Autograde every collected submission of ``lab`` (or only ``students``) with ``jobs``
    workers. Returns {"graded": n, "errors": [{"student", "reason"}], "results": [...]}."""
    course.check_lab(lab)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise CourseError(f"--jobs must be a positive integer: got {jobs!r}")
    if not cell_timeout or cell_timeout <= 0:
        raise CourseError(f"--timeout must be a positive number of seconds: got {cell_timeout!r}")
    notebook_timeout = notebook_timeout or max(120.0, 10 * cell_timeout)
    course.ensure_released(lab)
    sub_root = course.root / "submitted"
    all_students = sorted(p.parent.name for p in sub_root.glob(f"*/{lab}") if p.is_dir()) if sub_root.is_dir() else []
    if students:
        unknown = [s for s in students if s not in all_students]
        if unknown:
            raise CourseError(f"no submission of {lab} for {', '.join(unknown)}: collected are "
                              f"{', '.join(all_students) or 'none'}")
        all_students = students
    if not all_students:
        raise CourseError(f"no submissions of {lab} in {sub_root}: run `mlsys-grade collect {lab} SOURCE` first")
    results: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(grade_one, course, lab, s, cell_timeout, notebook_timeout): s for s in all_students}
        for fut in as_completed(futures):
            try:
                r = fut.result()
            except Exception as exc:  # the grader's own failure: record it, keep going
                r = {"student": futures[fut], "status": "error", "score": 0.0, "max_score": 0.0, "notes": [],
                     "reason": f"grader failure: {type(exc).__name__}: {exc}"}
                course.update_log(lab, futures[fut], **{k: v for k, v in r.items() if k != "student"})
            results.append(r)
            msg = f"[{len(results)}/{len(all_students)}] {r['student']}: {r['score']:g}/{r['max_score']:g} {r['status']}"
            detail = "; ".join(([r["reason"]] if r.get("reason") else []) + r.get("notes", []))
            progress(msg + (f" ({detail})" if detail else ""))
    errors = [{"student": r["student"], "reason": r["reason"]} for r in results if r["status"] == "error"]
    summary = {"lab": lab, "submissions": len(results), "graded": len(results) - len(errors), "errors": errors,
               "seconds": round(time.perf_counter() - t0, 2),
               "results": sorted(results, key=lambda r: r["student"])}
    progress(f"{lab}: {summary['graded']} graded, {len(errors)} errors, in {summary['seconds']:.1f} s")
    for e in errors:
        progress(f"  error {e['student']}: {e['reason']}")
    return summary

