"""Feedback pages (nbgrader's generate_feedback step, ``mlsys-grade feedback``): a test cell shows
its visible tests and the judge's verdict alone (``VERDICTS``: passed, failed in the visible
tests, failed in a hidden test, ran past its time limit), and no code cell that ran after the
first test cell with hidden tests shows its output, since student code may keep what a hidden
test passed it and show it later (issue #23). The formgrader keeps every output, made inert
(``autograder.submission.inert``)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor

from autograder.course.root import Course, CourseError, error_lines
from autograder.submission.inert import inert_notebook
from autograder.submission.repair import HIDDEN, _gid, _meta, visible

VERDICTS = {
    "passed": "passed",
    "visible": "failed in the visible tests (run this cell in your notebook to see why)",
    "hidden": "failed in a hidden test",
    "timeout": "ran past its time limit",
    "failed": "failed",  # an error with no line of the test's own code to place it
}
TIMEOUT_ERRORS = frozenset({"TestTimeout", "CellTimeout", "CellTimeoutError"})
AFTER_HIDDEN = ("[outputs not shown: this cell ran after the hidden tests of {gid!r}, and what it shows could "
                "quote their inputs]\n")


def hidden_lines(source: str) -> set[int]:
    """The line numbers (1: the cell's first line) of a test cell's hidden part, markers included."""
    out, inside = set(), False
    for n, line in enumerate(source.splitlines(), 1):
        text = line.strip()
        if text == "### BEGIN HIDDEN TESTS":
            inside = True
        if inside:
            out.add(n)
        if text == "### END HIDDEN TESTS":
            inside = False
    return out


def _is_test(cell) -> bool:
    meta = _meta(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def verdict(cell) -> str:
    """Which of ``VERDICTS`` a test cell earned, from its grade (nbgrader's ``GetGrades`` puts
    ``score`` and ``points`` in its metadata) and the judge's error output: where the failing
    line of the test's own code is (``File "<test GRADE_ID>", line N`` in the traceback) tells
    a visible failure from a hidden one."""
    meta = _meta(cell)
    score, points = meta.get("score"), meta.get("points")
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    graded = isinstance(score, (int, float)) and isinstance(points, (int, float))
    if graded and score >= points:
        return "passed"
    if not errors:
        stderr = any(o.get("output_type") == "stream" and o.get("name") == "stderr" for o in cell.get("outputs", []))
        return "visible" if stderr else ("by_hand" if graded else "passed")
    err = errors[0]
    if str(err.get("ename")) in TIMEOUT_ERRORS:
        return "timeout"
    # a frame is an entry of its own that starts with File "<test ...>": the exception's message (the last
    # entry, which student code may have written) is never read as one
    where = re.compile(r'\s*File "<test ' + re.escape(str(meta.get("grade_id"))) + r'>", line (\d+)')
    lines = {int(m.group(1)) for t in err.get("traceback", []) if isinstance(t, str) for m in [where.match(t)] if m}
    if not lines:
        return "failed"
    return "hidden" if lines & hidden_lines(cell.source) else "visible"


def verdict_text(cell) -> str:
    v = verdict(cell)
    meta = _meta(cell)
    text = f"scored {meta['score']:g} of {meta['points']:g} points" if v == "by_hand" else VERDICTS[v]
    return f"{_gid(cell)}: {text}\n"


def feedback_view(nb) -> None:
    """In place, for a feedback page: each test cell shows its visible tests and its verdict
    alone (no output, no exception text, no value); every code cell after the first test cell
    with hidden tests shows no output, only a note (student code may have kept what a hidden
    test passed it and print it later, or return it into a later test's message)."""
    after: str | None = None
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if _is_test(cell):
            gid = _gid(cell)
            has_hidden = bool(HIDDEN.search(cell.source))
            line = verdict_text(cell)
            if has_hidden:
                n = sum(len(h.strip().splitlines()) - 2 for h in HIDDEN.findall(cell.source))
                cell.source = visible(cell.source) + f"\n# {gid}: {n} hidden test lines (not shown)"
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=line)]
            if has_hidden and after is None:
                after = gid
        elif after is not None:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=AFTER_HIDDEN.format(gid=after))]


class HideHiddenTests(NbGraderPreprocessor):
    """nbgrader generate_feedback, after ``GetGrades``: ``feedback_view``. A test cell shows its
    name, its visible tests and one verdict (``VERDICTS``); hidden tests' code, tracebacks,
    printed text and every output that ran after a hidden test are left out. The formgrader
    (the instructor's view) keeps every output."""

    def preprocess(self, nb, resources):
        feedback_view(nb)
        return nb, resources


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
class SafeFeedback(NbGraderPreprocessor):
    """nbgrader generate_feedback: ``inert.inert_notebook`` once more. The autograded notebook is
    already inert (``inert.InertNotebook`` in the autograde step); this is defence in depth, and
    covers notebooks autograded before that preprocessor was in the course config."""

    def preprocess(self, nb, resources):
        inert_notebook(nb)
        return nb, resources
