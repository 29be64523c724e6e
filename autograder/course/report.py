"""The class's grades: the export (one CSV row per student per lab, read from nbgrader's gradebook
and our grading record, so a submission that erred is a row with its reason, never a missing
line, and a row for every entry rejected at collect, status ``rejected``; or the columns an LMS
imports) and the class summary. Feedback pages: ``autograder.course.feedback``.

    student_id,lab,status,total,max_total,reason,notes,needs_manual_grade,file,<lab>:<test cell>...
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from autograder.course.root import Course, CourseError

FIXED = ["student_id", "lab", "status", "total", "max_total", "reason", "notes", "needs_manual_grade", "file"]


def rows(course: Course, labs: list[str] | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """The plain export: a row per student per lab, and a row for every entry rejected at collect
    (``rejected_rows``). A row whose student is not known (a rejected file that names no one)
    has its file's name as ``student_id`` and ``_named_by_file`` set (not a column)."""
    from nbgrader.api import Gradebook, MissingEntry

    labs = [course.check_lab(lab) for lab in labs] if labs else course.labs()
    header, out = list(FIXED), []
    with Gradebook(course.db_url) as gb:
        students = sorted(s.id for s in gb.students)
        for lab in labs:
            log = course.read_log(lab)
            try:
                assignment = gb.find_assignment(lab)
            except MissingEntry:  # never released: nothing graded; what collect took or rejected still shows
                lab_rows = [{"student_id": sid, "lab": lab, "status": rec.get("status", "collected"), "total": 0.0,
                             "max_total": "", "reason": rec.get("reason") or "", "file": rec.get("source_file", ""),
                             "notes": " | ".join(rec.get("collect_notes", []))}
                            for sid, rec in sorted(log["students"].items())]
                out += rejected_rows(lab, lab_rows, log.get("rejected_files", []), "")
                continue
            cells = [c.name for nb in assignment.notebooks for c in nb.grade_cells if c.max_score > 0]
            header += [f"{lab}:{c}" for c in cells]
            lab_rows = []
            for sid in sorted(set(students) | set(log["students"])):
                rec = log["students"].get(sid, {})
                row: dict[str, Any] = {"student_id": sid, "lab": lab, "max_total": assignment.max_score,
                                       "reason": rec.get("reason") or "", "notes": " | ".join(rec.get("notes", [])),
                                       "file": rec.get("source_file", "")}
                try:
                    sub = gb.find_submission(lab, sid)
                    row["total"] = sub.score
                    row["needs_manual_grade"] = bool(sub.needs_manual_grade)  # a design answer to grade by hand
                    row.update({f"{lab}:{g.name}": g.score for nb in sub.notebooks for g in nb.grades
                                if g.max_score > 0})
                    row["status"] = rec.get("status", "graded")
                except MissingEntry:
                    row["total"] = 0.0
                    row["status"] = rec.get("status") if rec.get("status") == "error" else "missing"
                    row["reason"] = row["reason"] or "no submission"
                if row["status"] == "error" and rec.get("score") == 0:
                    row["total"] = 0.0  # e.g. stopped at the notebook limit: nothing earned is kept
                lab_rows.append(row)
            out += rejected_rows(lab, lab_rows, log.get("rejected_files", []), assignment.max_score)
    return header, out


def rejected_rows(lab: str, lab_rows: list[dict[str, Any]], rejected: list[dict], max_total) -> list[dict[str, Any]]:
    """``lab_rows`` with every entry rejected at collect accounted for: the rejection of a
    student who has a row is that row's (status ``rejected`` with the reason when nothing of
    theirs was collected, else a note); any other is a row of its own, status ``rejected``,
    named by its student or, when none can be told, by its file."""
    from autograder.course.collect import claimant

    by_student = {r["student_id"]: r for r in lab_rows}
    extra: list[dict[str, Any]] = []
    for rej in rejected:
        file, reason = str(rej.get("file", "")), str(rej.get("reason", ""))
        sid = rej["student"] if "student" in rej else claimant(file, lab)  # records made before collect kept it
        row = by_student.get(sid) if sid else None
        if row is not None and row["status"] in ("missing", "rejected"):
            if row["status"] == "missing":
                row.update(status="rejected", reason=reason, file=file, total=0.0)
            else:
                row["file"] = f"{row['file']} | {file}"
                if reason not in row["reason"]:
                    row["reason"] = f"{row['reason']} | {reason}"
        elif row is not None:
            row["notes"] = " | ".join(x for x in (row.get("notes"), f"rejected at collect: {file}: {reason}") if x)
        else:
            row = {"student_id": sid or file, "lab": lab, "status": "rejected", "total": 0.0, "max_total": max_total,
                   "reason": reason, "notes": "", "file": file}
            if sid:
                by_student[sid] = row
            else:
                row["_named_by_file"] = True
            extra.append(row)
    return lab_rows + extra


FORMATS = ("plain", "canvas", "gradescope", "moodle")
NOTES_COLUMN = "Notes"


def lms_rows(course: Course, fmt: str, labs: list[str] | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """One row per student, one column per lab (its total), in the columns an LMS imports:
    Canvas's gradebook import (Student, ID, SIS User ID, SIS Login ID, Section, <assignment>...),
    Gradescope's score import (Name, SID, Email, <assignment>...) or Moodle's grade import
    (Username, <grade item>...). A ``Notes`` column before the labs says, per lab, when a
    student's file was rejected at collect (the total there is 0): such a student never
    vanishes. A rejected file that names no student cannot be a row here: ``export`` says how
    many there are (the plain export lists them)."""
    from nbgrader.api import Gradebook

    _, plain = rows(course, labs)
    lab_names = sorted({r["lab"] for r in plain})
    with Gradebook(course.db_url) as gb:
        people = {s.id: s for s in gb.students}
    totals: dict[str, dict[str, Any]] = {}
    notes: dict[str, list[str]] = {}
    for r in plain:
        if r.get("_named_by_file"):
            continue
        totals.setdefault(r["student_id"], {})[r["lab"]] = r["total"]
        if r["status"] == "rejected":
            notes.setdefault(r["student_id"], []).append(f"{r['lab']}: rejected at collect ({r['reason']})")
        elif "rejected at collect: " in (r.get("notes") or ""):
            notes.setdefault(r["student_id"], []).append(
                f"{r['lab']}: {'; '.join(n for n in r['notes'].split(' | ') if n.startswith('rejected at collect: '))}")
    out = []
    for sid in sorted(totals):
        st = people.get(sid)
        name = " ".join(x for x in (getattr(st, "first_name", None), getattr(st, "last_name", None)) if x) or sid
        if fmt == "canvas":
            row = {"Student": name, "ID": getattr(st, "lms_user_id", None) or "", "SIS User ID": "",
                   "SIS Login ID": sid, "Section": ""}
        elif fmt == "gradescope":
            row = {"Name": name, "SID": sid, "Email": getattr(st, "email", None) or ""}
        else:
            row = {"Username": sid}
        row[NOTES_COLUMN] = "; ".join(notes.get(sid, []))
        row.update({lab: totals[sid].get(lab, 0.0) for lab in lab_names})
        out.append(row)
    fixed = {"canvas": ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"],
             "gradescope": ["Name", "SID", "Email"], "moodle": ["Username"]}[fmt]
    return fixed + [NOTES_COLUMN] + lab_names, out


def export(course: Course, path: str | Path, labs: list[str] | None = None, fmt: str = "plain") -> int:
    """Write the grades CSV to ``path`` in format ``fmt`` (see FORMATS); returns the number of rows.
    In an LMS format, a rejected file that names no student has no row: a line on stderr says
    how many there are."""
    import sys

    path = Path(path)
    if path.suffix.lower() != ".csv":
        raise CourseError(f"--to must name a .csv file: got {str(path)!r}")
    if fmt not in FORMATS:
        raise CourseError(f"--format must be one of {', '.join(FORMATS)}: got {fmt!r}")
    header, data = rows(course, labs) if fmt == "plain" else lms_rows(course, fmt, labs)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, restval="", extrasaction="ignore")
        w.writeheader()
        w.writerows(data)
    if fmt != "plain":
        nameless = [r for r in rows(course, labs)[1] if r.get("_named_by_file")]
        if nameless:
            print(f"note: {len(nameless)} files rejected at collect name no student, so they have no row in this "
                  f"{fmt} file: `mlsys-grade export --format plain` lists them", file=sys.stderr)
    return len(data)


def class_summary(course: Course, lab: str) -> dict[str, Any]:
    """For the instructor: how the class did on each test cell, the test most students fail,
    every flag and every error, from the gradebook and the grading record."""
    course.check_lab(lab)
    header, everything = rows(course, [lab])
    data = [r for r in everything if not r.get("_named_by_file")]  # students (a file that names no one is not)
    if not data or all(r["max_total"] == "" for r in data):
        raise CourseError(f"nothing graded for {lab} yet: run `mlsys-grade autograde {lab}` first")
    cells = [k.split(":", 1)[1] for k in header if k.startswith(f"{lab}:")]
    log = course.read_log(lab)["students"]
    dist: dict[str, dict[str, int]] = {}
    failing: dict[str, int] = {}
    graded = [r for r in data if r["status"] == "graded"]
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url) as gb:
        grade_cells = [c for nb in gb.find_assignment(lab).notebooks for c in nb.grade_cells]
        maxes = {c.name: c.max_score for c in grade_cells}
        # answers graded by hand (design questions): {cell: students whose answer awaits its grade}
        manual = {c.name: 0 for c in grade_cells if c.cell_type == "markdown"}
        for r in graded:
            for name in manual:
                g = _grade(gb, lab, r["student_id"], name)
                manual[name] += bool(g is not None and g.needs_manual_grade)
    for cell in cells:
        scores = [float(r.get(f"{lab}:{cell}") or 0) for r in graded]
        dist[cell] = {f"{s:g}": scores.count(s) for s in sorted(set(scores))}
        if cell not in manual:  # an ungraded answer is not a failed test
            failing[cell] = sum(1 for s in scores if s < maxes.get(cell, 0))
    worst = max(failing, key=lambda c: failing[c]) if failing else None
    totals = [float(r["total"]) for r in data]
    variants, hidden = _variants(course, lab, [r["student_id"] for r in graded])
    return {
        "lab": lab, "students": len(data),
        "status": {s: sum(1 for r in data if r["status"] == s) for s in sorted({r["status"] for r in data})},
        "mean_total": round(sum(totals) / len(totals), 3), "max_total": next(r["max_total"] for r in data
                                                                              if r["max_total"] != ""),
        "manual_points": sum(maxes[c] for c in manual), "awaiting_manual_grade": manual,
        "score_distribution": dist, "failing_per_test": failing,
        "most_common_failing_test": worst and {"test": worst, "students": failing[worst]},
        "flags": {sid: rec["notes"] for sid, rec in sorted(log.items()) if rec.get("notes")},
        "errors": {r["student_id"]: r["reason"] for r in everything if r["status"] != "graded"},
        # each student's variant of the hidden inputs, and who failed a hidden part after passing the
        # visible one: `mlsys-grade summary --check-variants` runs the lab's own solution on theirs
        "variants": variants, "hidden_failures": hidden,
    }


def _variants(course: Course, lab: str, students: list[str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """({student: variant fingerprint}, {test cell: students who failed its hidden part})."""
    import nbformat

    from autograder.submission.differential import course_secret
    from autograder.submission.differential import Variant
    from autograder.course.feedback import _is_test, verdict

    secret = course_secret(course.root)
    variants = {s: Variant(secret, lab, s).fingerprint for s in students}
    hidden: dict[str, list[str]] = {}
    for s in students:
        path = course.autograded_notebook(lab, s)
        if not path.is_file():
            continue
        for cell in nbformat.read(path, as_version=4).cells:
            if _is_test(cell) and verdict(cell) == "hidden":
                hidden.setdefault(cell.metadata["nbgrader"]["grade_id"], []).append(s)
    return variants, hidden


def _grade(gb, lab: str, student: str, cell: str):
    from nbgrader.api import MissingEntry

    try:
        return gb.find_grade(cell, lab, lab, student)
    except MissingEntry:
        return None


def summary_html(summary: dict[str, Any], path: Path) -> Path:
    """The class summary as a page: one histogram per test cell, then the flags and errors."""
    import base64
    import html

    from mlsys_kit.viz.figure import figure_png, new_figure

    cells = list(summary["score_distribution"])
    fig = new_figure(3.2 * max(1, len(cells)), 2.6)
    axes = fig.subplots(1, max(1, len(cells)), squeeze=False)[0]
    for ax, cell in zip(axes, cells):
        d = summary["score_distribution"][cell]
        ax.bar(list(d), list(d.values()), color="#4C72B0")
        ax.set_title(cell, fontsize=9)
        ax.set_xlabel("points")
    axes[0].set_ylabel("students")
    img = base64.b64encode(figure_png(fig)).decode()
    rows = "".join(f"<tr><td>{html.escape(s)}</td><td>{html.escape('; '.join(f))}</td></tr>"
                   for s, f in summary["flags"].items())
    errs = "".join(f"<tr><td>{html.escape(s)}</td><td>{html.escape(str(e))}</td></tr>"
                   for s, e in summary["errors"].items())
    worst = summary["most_common_failing_test"]
    page = (f"<!doctype html><meta charset='utf-8'><title>{summary['lab']} summary</title>"
            f"<h1>{html.escape(summary['lab'])}: {summary['students']} students</h1>"
            f"<p>status: {html.escape(str(summary['status']))}; mean {summary['mean_total']} of "
            f"{summary['max_total']}; most failed test: {html.escape(str(worst))}</p>"
            + "".join(f"<p>{html.escape(c)}: {n} answers to grade by hand in the formgrader</p>"
                      for c, n in summary.get("awaiting_manual_grade", {}).items()) +
            f"<img src='data:image/png;base64,{img}'><h2>Flags</h2><table>{rows}</table>"
            f"<h2>Errors</h2><table>{errs}</table>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
