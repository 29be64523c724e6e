"""One submission's fate in the grading record: what is checked before and after nbgrader grades
it (the file's size, the autograded notebook's size, cells that timed out, the notes of the
repair, the caps and the sandbox), its score from the gradebook, and the record's entry."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import nbformat

from autograder.course.root import Course, error_lines
from autograder.submission.repair import notes_file
from autograder.submission.sandbox import FLAGS_FILE

MAX_NOTEBOOK_MB = 32       # the autograded notebook, after CapOutputs has capped its outputs
FINAL = ("graded", "error")


def precheck(course: Course, lab: str, student: str) -> tuple[str | None, list[str]]:
    """(fatal reason or None, notes) from reading the submission before grading it."""
    from autograder.course.collect import MAX_FILE_MB

    path = course.submitted_notebook(lab, student)
    if not path.is_file():
        return f"no {lab}.ipynb in submitted/{student}/{lab}/", []
    size = path.stat().st_size
    if size == 0:
        return "the submitted notebook is an empty file", []
    if size > MAX_FILE_MB * 2**20:
        return f"the submitted notebook is {size / 2**20:.1f} MiB, over the cap of {MAX_FILE_MB} MiB: not graded", []
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # any reason a notebook cannot be read is the student's error
        return f"not a valid notebook: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}", []
    return None, []  # deleted, edited, duplicated or moved cells: repaired and noted by autograder.submission.repair


def postcheck(course: Course, lab: str, student: str, cell_timeout: float,
              max_notebook_mb: float = MAX_NOTEBOOK_MB) -> tuple[str | None, list[str]]:
    """(fatal reason or None, notes) from the autograded notebook (its size, cells that timed
    out), the integrity preprocessors' notes and the sandbox's flags."""
    path = course.autograded_notebook(lab, student)
    notes: list[str] = []
    for f in (notes_file(course.root, lab, student), path.parent / FLAGS_FILE):
        if f.is_file():
            try:
                notes += [n for n in json.loads(f.read_text()).get("flags", []) if n not in notes]
            except (ValueError, AttributeError):
                notes.append(f"{f.name} ({f.parent}) could not be read")
    if not path.is_file():
        return None, notes
    size = path.stat().st_size
    if size > max_notebook_mb * 2**20:
        return (f"the autograded notebook is {size / 2**20:.1f} MiB, over the cap of {max_notebook_mb:g} MiB per "
                "submission: not graded"), notes
    for cell in nbformat.read(path, as_version=4).cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and out.get("ename") in ("CellTimeoutError", "CellTimeout"):
                gid = cell.metadata.get("nbgrader", {}).get("grade_id", cell.get("id", "?"))
                notes.append(f"cell {gid!r} ran past {cell_timeout:g} s and was interrupted")
    return None, notes


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


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def finish(course: Course, lab: str, student: str, ok: bool, output: str, seconds: float,
           cell_timeout: float, max_notebook_mb: float = MAX_NOTEBOOK_MB) -> dict[str, Any]:
    """The record of one graded submission (in the parent: the only writer of the record)."""
    fatal, notes = precheck(course, lab, student)
    late, more = postcheck(course, lab, student, cell_timeout, max_notebook_mb)
    notes = list(course.read_log(lab)["students"].get(student, {}).get("collect_notes", [])) + notes + more
    reason = fatal or late or (None if ok else error_lines(output))
    score, max_score, cells = read_score(course, lab, student)
    if late:
        score, cells = 0.0, {}
    record = {"status": "error" if reason else "graded", "reason": reason, "notes": notes, "score": score,
              "max_score": max_score, "cells": cells, "seconds": round(seconds, 2),
              "sha256": digest(course.submitted_notebook(lab, student))}
    course.update_log(lab, student, **record)
    return record | {"student": student}


# ---- processes: a tree, found in /proc, stopped and killed whole --------------------------------
