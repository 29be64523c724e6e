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

import hashlib
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable

import nbformat
from tqdm import tqdm

from autograder.course import Course, CourseError, error_lines
from autograder.sandbox import FLAGS_FILE


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
    return None, []  # deleted or edited test cells: restored and flagged by autograder.integrity


def postcheck(course: Course, lab: str, student: str, cell_timeout: float) -> list[str]:
    """Notes from the autograded notebook (cells that timed out) and the sandbox's flags."""
    path = course.autograded_notebook(lab, student)
    notes = []
    flags_file = path.parent / FLAGS_FILE
    if flags_file.is_file():
        notes += json.loads(flags_file.read_text()).get("flags", [])
    if not path.is_file():
        return notes
    for cell in nbformat.read(path, as_version=4).cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and out.get("ename") in ("CellTimeoutError", "CellTimeout"):
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


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


# ---- in a worker process: nbgrader is imported once, then grades one submission after another ---
_API = None


def _init_worker(root: str, cell_timeout: float, notebook_timeout: float) -> None:
    """Load the course's nbgrader config with our limits, as ``nbgrader autograde`` would."""
    global _API
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    from autograder.course import _die_with_parent

    _die_with_parent()
    os.chdir(root)
    os.environ["MLSYS_COURSE_ROOT"] = root
    bindir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    cfg = PyFileConfigLoader("nbgrader_config.py", path=root).load_config()
    t = max(1, round(cell_timeout))
    cfg.Execute.timeout = t
    cfg.SandboxedExecute.timeout = t
    cfg.SandboxedExecute.notebook_timeout = max(1, round(notebook_timeout))
    cfg.CourseDirectory.root = root
    _API = NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)


def _grade_in_worker(lab: str, student: str, marker: str) -> tuple[bool, str, float]:
    Path(marker).write_text(str(os.getpid()))  # "in flight": how a killed worker is told apart
    t0 = time.perf_counter()
    try:
        for attempt in range(3):
            res = _API.autograde(lab, student, force=True, create=True)
            out = (res.get("log") or "") + (res.get("error") or "")
            if res["success"] or "database is locked" not in out:
                break
            time.sleep(0.5 * (attempt + 1))
        return bool(res["success"]), out, time.perf_counter() - t0
    finally:
        Path(marker).unlink(missing_ok=True)


def finish(course: Course, lab: str, student: str, ok: bool, output: str, seconds: float,
           cell_timeout: float) -> dict[str, Any]:
    """The record of one graded submission (in the parent: the only writer of the record)."""
    fatal, notes = precheck(course, lab, student)
    notes += postcheck(course, lab, student, cell_timeout)
    reason = fatal or (None if ok else error_lines(output))
    score, max_score, cells = read_score(course, lab, student)
    record = {"status": "error" if reason else "graded", "reason": reason, "notes": notes, "score": score,
              "max_score": max_score, "cells": cells, "seconds": round(seconds, 2),
              "sha256": digest(course.submitted_notebook(lab, student))}
    course.update_log(lab, student, **record)
    return record | {"student": student}


FINAL = ("graded", "error")


def autograde(course: Course, lab: str, students: list[str] | None = None, jobs: int = 1,
              cell_timeout: float = 60, notebook_timeout: float | None = None,
              progress: Callable[[str], None] = print, force: bool = False,
              bar: bool = False) -> dict[str, Any]:
    """Autograde the collected submissions of ``lab`` (or only ``students``) with ``jobs``
    workers. Resumable: a submission whose record is final (graded, or an error of its own) and
    whose file is unchanged is not graded again unless ``force``; one that was being graded when
    the grader or its worker was killed is. Returns {"graded": n, "errors": [...], "results": [...]}."""
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
    log = course.read_log(lab)["students"]
    done = [] if force else [s for s in all_students if log.get(s, {}).get("status") in FINAL
                             and log[s].get("sha256") == digest(course.submitted_notebook(lab, s))]
    if done:
        progress(f"{len(done)} submissions already graded and unchanged: kept (--force grades them again)")
    results: list[dict[str, Any]] = [{"student": s, **log[s]} for s in done]
    todo = [s for s in all_students if s not in done]
    t0 = time.perf_counter()
    meter = tqdm(total=len(all_students), initial=len(done), desc=f"autograde {lab}", unit="nb", file=sys.stderr,
                 disable=not bar, mininterval=1.0)
    say = meter.write if bar else progress
    flight = course.root / "grading" / f"{lab}.inflight"
    flight.mkdir(parents=True, exist_ok=True)
    for stale in flight.iterdir():  # left by a grader that was killed: those are graded again below
        stale.unlink()
    for s in todo:
        course.update_log(lab, s, status="queued", reason=None)

    def record(r: dict[str, Any]) -> None:
        results.append(r)
        meter.update(1)
        msg = f"[{len(results)}/{len(all_students)}] {r['student']}: {r['score']:g}/{r['max_score']:g} {r['status']}"
        detail = "; ".join(([r["reason"]] if r.get("reason") else []) + r.get("notes", []))
        say(msg + (f" ({detail})" if detail else ""))

    pending = list(todo)
    while pending:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(jobs, len(pending)), mp_context=ctx, initializer=_init_worker,
                                 initargs=(str(course.root), cell_timeout, notebook_timeout)) as pool:
            futures = {pool.submit(_grade_in_worker, lab, s, str(flight / s)): s for s in pending}
            pending = []
            for fut in as_completed(futures):
                s = futures[fut]
                try:
                    ok, output, secs = fut.result()
                    r = finish(course, lab, s, ok, output, secs, cell_timeout)
                except BrokenProcessPool:
                    if (flight / s).exists():  # it was being graded when its worker died
                        (flight / s).unlink()
                        r = {"student": s, "status": "interrupted", "score": 0.0,
                             "max_score": read_score(course, lab, s)[1], "notes": [],
                             "reason": "the grading worker was killed: run autograde again to grade this submission"}
                        course.update_log(lab, s, **{k: v for k, v in r.items() if k != "student"})
                    else:  # never started: grade it with fresh workers
                        pending.append(s)
                        continue
                except Exception as exc:  # the grader's own failure: record it, keep going
                    r = {"student": s, "status": "error", "score": 0.0, "max_score": 0.0, "notes": [],
                         "reason": f"grader failure: {type(exc).__name__}: {exc}"}
                    course.update_log(lab, s, **{k: v for k, v in r.items() if k != "student"})
                record(r)
    meter.close()
    errors = [{"student": r["student"], "reason": r["reason"]} for r in results if r["status"] not in ("graded",)]
    summary = {"lab": lab, "submissions": len(results), "graded": len(results) - len(errors), "errors": errors,
               "kept": len(done), "seconds": round(time.perf_counter() - t0, 2),
               "results": sorted(results, key=lambda r: r["student"])}
    progress(f"{lab}: {summary['graded']} graded, {len(errors)} errors, in {summary['seconds']:.1f} s"
             + (f" ({len(done)} kept from before)" if done else ""))
    for e in errors:
        progress(f"  error {e['student']}: {e['reason']}")
    return summary

