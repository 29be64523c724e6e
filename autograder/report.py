"""Feedback and grade export.

Feedback is nbgrader's own (``generate_feedback``: one HTML page per student), with two
preprocessors of ours in the course config: ``integrity.HideHiddenTests`` and ``SafeFeedback``,
which escapes or drops active content that a student's outputs or markdown could carry into
the page (scripts, iframes, objects, event-handler attributes, ``javascript:`` URLs), in HTML
and in every other MIME type that renders as HTML (SVG, markdown, JavaScript, widgets). The export is
one CSV row per student per lab, read from nbgrader's gradebook and our grading record, so a
submission that erred is a row with its reason, never a missing line:

    student_id,lab,status,total,max_total,reason,notes,<lab>:<test cell>...
"""

from __future__ import annotations

import base64
import binascii
import csv
import html as html_lib
import re
from pathlib import Path
from typing import Any

from nbgrader.preprocessors import NbGraderPreprocessor

from autograder.course import Course, CourseError, error_lines

FIXED = ["student_id", "lab", "status", "total", "max_total", "reason", "notes", "needs_manual_grade"]


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


# ---- feedback pages carry no active content --------------------------------------------------------
SAFE_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del", "details", "div", "dl",
    "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "s",
    "samp", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "tr", "tt", "u", "ul", "var"})
PLAIN_ATTRS = frozenset({"class", "title", "colspan", "rowspan", "align", "valign", "border", "alt", "width",
                         "height"})
IMAGE_URL = re.compile(r"^data:image/(png|jpeg|gif|svg\+xml);base64,[A-Za-z0-9+/=]*$")
LINK_URL = re.compile(r"^(https?:|mailto:|#)", re.I)
BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]*$")
IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif")


def _url(value: str) -> str:
    """A URL as a browser reads it: entities decoded, whitespace and control characters gone."""
    return re.sub(r"[\x00-\x20\x7f]+", "", html_lib.unescape(value))


def _attr_ok(tag: str, name: str, value: str) -> bool:
    if name in PLAIN_ATTRS:
        return True
    if tag == "a" and name == "href":
        return bool(LINK_URL.match(_url(value)))
    if tag == "img" and name == "src":
        return bool(IMAGE_URL.match(_url(value)))
    return False  # event handlers (on*), style, srcset, formaction, xlink:href, ...


def clean_html(text: str) -> str:
    """HTML with only inert tags and attributes left (bleach, an allow-list): scripts, iframes,
    objects, embeds, forms, styles, event handlers and ``javascript:`` URLs are removed; what
    they enclosed stays as escaped text. MathJax's ``\\href`` is turned into plain text."""
    import bleach

    out = bleach.clean(text, tags=SAFE_TAGS, attributes=_attr_ok, protocols={"http", "https", "mailto", "data"},
                       strip=True, strip_comments=True)
    return out.replace("\\href", "\\text")


def svg_as_image(svg: str) -> str:
    """An SVG as an ``<img>`` of a data URL: browsers run no script and load nothing in an SVG
    shown as an image, whatever its elements and attributes say."""
    return f'<img src="data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()}">'


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def safe_output(out: dict) -> dict:
    """One notebook output with its active content escaped or dropped (a new dict)."""
    if out.get("output_type") not in ("display_data", "execute_result"):
        return out  # streams and errors are text: the template escapes them
    from nbconvert.filters import markdown2html

    data, new, removed = out.get("data", {}), {}, []
    for mime, value in data.items():
        v = _text(value)
        if mime == "text/plain":
            new[mime] = v
        elif mime in IMAGE_MIMES:
            if BASE64.match(v):
                try:
                    base64.b64decode(re.sub(r"\s", "", v), validate=True)
                    new[mime] = v
                    continue
                except (binascii.Error, ValueError):
                    pass
            removed.append(mime)
        elif mime == "text/html":
            new[mime] = clean_html(v)
        elif mime == "text/latex":
            new[mime] = v.replace("\\href", "\\text")
        elif mime in ("image/svg+xml", "text/markdown"):
            pass  # below: shown as HTML when no text/html is there (the template's order: html, svg, markdown)
        else:
            removed.append(mime)  # JavaScript, widgets, PDF, JSON, anything unknown
    if "text/html" not in data and "image/svg+xml" in data:
        new["text/html"] = svg_as_image(_text(data["image/svg+xml"]))
    elif "text/html" not in data and "text/markdown" in data:
        new["text/html"] = clean_html(markdown2html(_text(data["text/markdown"])))
    if not new:
        new["text/plain"] = f"[output removed from this page: {', '.join(removed) or 'empty'}]"
    meta = {m: {k: v for k, v in md.items() if k in ("width", "height") and isinstance(v, int)}
            for m, md in out.get("metadata", {}).items() if m in IMAGE_MIMES and m in new and isinstance(md, dict)}
    return {**out, "data": new, "metadata": {m: md for m, md in meta.items() if md}}


class SafeFeedback(NbGraderPreprocessor):
    """nbgrader generate_feedback: every output through ``safe_output``; the student's markdown
    (answers and their own cells, not the instructor's locked cells) rendered and cleaned."""

    def preprocess(self, nb, resources):
        import nbformat
        from nbconvert.filters import markdown2html

        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell.cell_type == "markdown" and not (meta.get("locked") and not meta.get("solution")):
                cell.source = f"<div>\n{clean_html(markdown2html(cell.source))}\n</div>"
                cell.pop("attachments", None)
            if cell.cell_type == "code":
                cell.outputs = [nbformat.from_dict(safe_output(o)) for o in cell.get("outputs", [])]
        nb.metadata.pop("widgets", None)
        return nb, resources


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
                out.append(row)
    return header, out


FORMATS = ("plain", "canvas", "gradescope", "moodle")


def lms_rows(course: Course, fmt: str, labs: list[str] | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """One row per student, one column per lab (its total), in the columns an LMS imports:
    Canvas's gradebook import (Student, ID, SIS User ID, SIS Login ID, Section, <assignment>...),
    Gradescope's score import (Name, SID, Email, <assignment>...) or Moodle's grade import
    (Username, <grade item>...)."""
    from nbgrader.api import Gradebook

    _, plain = rows(course, labs)
    lab_names = sorted({r["lab"] for r in plain})
    with Gradebook(course.db_url) as gb:
        people = {s.id: s for s in gb.students}
    totals: dict[str, dict[str, Any]] = {}
    for r in plain:
        totals.setdefault(r["student_id"], {})[r["lab"]] = r["total"]
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
        row.update({lab: totals[sid].get(lab, 0.0) for lab in lab_names})
        out.append(row)
    fixed = {"canvas": ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"],
             "gradescope": ["Name", "SID", "Email"], "moodle": ["Username"]}[fmt]
    return fixed + lab_names, out


def export(course: Course, path: str | Path, labs: list[str] | None = None, fmt: str = "plain") -> int:
    """Write the grades CSV to ``path`` in format ``fmt`` (see FORMATS); returns the number of rows."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        raise CourseError(f"--to must name a .csv file: got {str(path)!r}")
    if fmt not in FORMATS:
        raise CourseError(f"--format must be one of {', '.join(FORMATS)}: got {fmt!r}")
    header, data = rows(course, labs) if fmt == "plain" else lms_rows(course, fmt, labs)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, restval="")
        w.writeheader()
        w.writerows(data)
    return len(data)


def class_summary(course: Course, lab: str) -> dict[str, Any]:
    """For the instructor: how the class did on each test cell, the test most students fail,
    every flag and every error, from the gradebook and the grading record."""
    course.check_lab(lab)
    _, data = rows(course, [lab])
    if not data:
        raise CourseError(f"nothing graded for {lab} yet: run `mlsys-grade autograde {lab}` first")
    cells = [k.split(":", 1)[1] for k in data[0] if k.startswith(f"{lab}:")]
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
    return {
        "lab": lab, "students": len(data),
        "status": {s: sum(1 for r in data if r["status"] == s) for s in sorted({r["status"] for r in data})},
        "mean_total": round(sum(totals) / len(totals), 3), "max_total": data[0]["max_total"],
        "manual_points": sum(maxes[c] for c in manual), "awaiting_manual_grade": manual,
        "score_distribution": dist, "failing_per_test": failing,
        "most_common_failing_test": worst and {"test": worst, "students": failing[worst]},
        "flags": {sid: rec["notes"] for sid, rec in sorted(log.items()) if rec.get("notes")},
        "errors": {r["student_id"]: r["reason"] for r in data if r["status"] != "graded"},
    }


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
