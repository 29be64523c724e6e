"""Build a lab's nbgrader source notebook from its authoring file (the one way to author a lab).

The source of truth of lab ``<lab>`` is ``labs/authoring/<lab>.py``, a Python file in jupytext's
"percent" format: every cell starts with a ``# %%`` line that carries the cell's kind, id and
points, so solutions, tests and helpers are plain Python that linters and ``duplicates`` read::

    # mlsys_grade: {"reference": ["mlsys_kit.models.costs"]}

    # %% [markdown] id="intro"
    # # Lab 0: what a transformer costs

    # %% kind="locked" id="setup"
    import math

    # %% kind="solution" id="kv_bytes"
    def kv_bytes_per_token(cfg) -> int:
        ### BEGIN SOLUTION
        return 2 * cfg.layers * cfg.n_kv_heads * cfg.head_dim * cfg.dtype_bytes
        ### END SOLUTION

    # %% kind="test" id="test_kv_bytes" points=2
    assert type(kv_bytes_per_token(OPT_13B)) is int

``labs/source/<lab>/<lab>.ipynb`` is generated from it (``mlsys-grade build LAB`` or ``--all``)
with nbgrader metadata and deterministic cell ids (a cell's ``id``; ``cell-<n>`` for a plain
markdown cell without one), and ``mlsys-grade build --check`` fails when a committed notebook
differs from what its source builds. Cell kinds (docs/labs.md has the table):

=========  ==========  ====================================================================
kind       cell type   nbgrader role
=========  ==========  ====================================================================
(none)     markdown    explanation; with an ``id`` it is locked (read-only for students)
locked     code        setup and helpers, read-only; run in the student's kernel, the sandbox
                       and the trusted judge (``judge=false``: not the judge)
checker    code        a locked cell by another name (functions tests call)
solution   code        autograded answer: the reference between ``### BEGIN/END SOLUTION``
test       code        autograded tests with ``points``; hidden part between
                       ``### BEGIN/END HIDDEN TESTS``
answer     markdown    manually graded answer with ``points`` (a design question)
rubric     markdown    the grader's rubric for the answer before it: an nbgrader task cell
                       whose text sits in a ``=== BEGIN/END MARK SCHEME ===`` region, so the
                       release shows none of it and the formgrader shows it to the instructor
=========  ==========  ====================================================================

The header (comment lines before the first ``# %%``) may carry ``# mlsys_grade: {json}``: the
notebook's ``mlsys_grade`` metadata (``reference``: the mlsys_kit modules that implement what the
lab asks students to write; the grader flags a solution that uses them).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from autograder.course.root import LAB_NAME, CourseError, lab_key
from autograder.submission.names import bound_names, lab_answers

KINDS = {"code": ("locked", "checker", "solution", "test"), "markdown": ("answer", "rubric")}
CELL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ALLOWED_KEYS = {"kind", "id", "points", "judge"}
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
HEADER_KEY = re.compile(r"^#\s*mlsys_grade:\s*(.*)$")
HEADER_KEYS = {"reference"}


class BuildError(CourseError):
    """A lab's authoring file cannot be built: says where and what is allowed."""


@dataclass
class Cell:
    cell_type: str
    source: str
    kind: str | None = None
    id: str | None = None
    points: float | None = None
    line: int = 0
    judge: bool = True  # a locked cell: also run in the judge (judge=false: the sandbox only)  # the ``# %%`` line in the authoring file (1-based), for error messages


@dataclass
class LabSource:
    name: str
    metadata: dict[str, Any] = field(default_factory=dict)
    cells: list[Cell] = field(default_factory=list)


def _markers(source: str, begin: str, end: str) -> list[str]:
    """Problems with the ``### BEGIN X`` / ``### END X`` regions of ``source`` (empty when fine)."""
    depth, problems, seen = 0, [], 0
    for line in source.splitlines():
        s = line.strip()
        if s == f"### {begin}":
            if depth:
                problems.append(f"nested '### {begin}'")
            depth, seen = depth + 1, seen + 1
        elif s == f"### {end}":
            if not depth:
                problems.append(f"'### {end}' without '### {begin}'")
            depth = max(0, depth - 1)
    if depth:
        problems.append(f"'### {begin}' without '### {end}'")
    if not seen:
        problems.append(f"no '### {begin}' / '### {end}' region")
    return problems


def _visible(source: str) -> str:
    """A test cell without its hidden region(s)."""
    return re.sub(r"^\s*### BEGIN HIDDEN TESTS\s*$.*?^\s*### END HIDDEN TESTS\s*$", "", source, flags=re.M | re.S)


def _cell_lines(text: str) -> list[int]:
    return [i + 1 for i, line in enumerate(text.splitlines()) if line.startswith("# %%")]


def parse(text: str, name: str) -> LabSource:
    """The cells of an authoring file's text (``name`` is used in error messages)."""
    import jupytext

    if not any(line.startswith("# %%") for line in text.splitlines()):
        raise BuildError(f"{name}: no '# %%' cell markers: an authoring file is jupytext's percent format "
                         "(docs/labs.md)")
    header_lines = []
    for line in text.splitlines():
        if line.startswith("# %%"):
            break
        header_lines.append(line)
    lab = LabSource(name=name)
    for n, line in enumerate(header_lines, 1):
        if not line.strip():
            continue
        if not line.startswith("#"):
            raise BuildError(f"{name}:{n}: code before the first '# %%' cell: the header holds comments only")
        m = HEADER_KEY.match(line)
        if m:
            try:
                meta = json.loads(m.group(1))
            except json.JSONDecodeError as exc:
                raise BuildError(f"{name}:{n}: the mlsys_grade header is not JSON ({exc.msg}): "
                                 '# mlsys_grade: {"reference": ["mlsys_kit.<module>", ...]}') from None
            if not isinstance(meta, dict) or set(meta) - HEADER_KEYS:
                raise BuildError(f"{name}:{n}: the mlsys_grade header is an object with keys "
                                 f"{sorted(HEADER_KEYS)}: got {m.group(1)}")
            ref = meta.get("reference", [])
            if not isinstance(ref, list) or not all(isinstance(r, str) and r.startswith("mlsys_kit") for r in ref):
                raise BuildError(f"{name}:{n}: mlsys_grade.reference is a list of mlsys_kit module names: got {ref!r}")
            lab.metadata = meta
    nb = jupytext.reads(text, fmt="py:percent")
    cells = list(nb.cells)
    lines = _cell_lines(text)
    if cells and len(cells) == len(lines) + 1:  # the header, read by jupytext as a cell of its own
        cells = cells[1:]
    if len(cells) != len(lines):
        raise BuildError(f"{name}: jupytext read {len(cells)} cells from {len(lines)} '# %%' lines: "
                         "is there a '# %%' inside a string?")
    for cell, line in zip(cells, lines):
        meta = {k: v for k, v in cell.metadata.items() if k != "lines_to_next_cell"}
        where = f"{name}:{line}"
        unknown = set(meta) - ALLOWED_KEYS
        if unknown:
            raise BuildError(f"{where}: unknown cell option(s) {sorted(unknown)}: a cell takes kind=, id=, "
                             "points= and (locked cells) judge=false")
        if cell.cell_type not in KINDS:
            raise BuildError(f"{where}: cell type {cell.cell_type!r}: cells are code ('# %%') or markdown "
                             "('# %% [markdown]')")
        kind, cid, points = meta.get("kind"), meta.get("id"), meta.get("points")
        judged = meta.get("judge", True)
        if "judge" in meta and (kind not in ("locked", "checker") or judged is not False):
            raise BuildError(f"{where}: judge=false is the one value of judge=, on a locked cell whose names no "
                             f"test reads (it then runs in the student's kernel and the sandbox only): got "
                             f"judge={judged!r} on a {kind or cell.cell_type} cell")
        allowed = KINDS[cell.cell_type]
        if kind is None and cell.cell_type == "code":
            raise BuildError(f"{where}: a code cell needs a kind: one of {', '.join(allowed)}")
        if kind is not None and kind not in allowed:
            raise BuildError(f"{where}: unknown kind {kind!r} for a {cell.cell_type} cell: allowed are "
                             f"{', '.join(allowed)}" + ("" if cell.cell_type == "markdown" else
                                                       " (answer and rubric are markdown cells)"))
        if cid is not None and not (isinstance(cid, str) and CELL_ID.match(cid)):
            raise BuildError(f"{where}: id {cid!r}: ids are 1-64 letters, digits, '_' and '-'")
        if kind is not None and cid is None:
            raise BuildError(f"{where}: a {kind} cell needs an id (id=\"...\"), used as its nbgrader grade_id")
        graded = kind in ("test", "answer")
        if graded:
            if points is None:
                raise BuildError(f"{where}: {kind} cell {cid!r} has no points: add points=N (N > 0)")
            if isinstance(points, bool) or not isinstance(points, (int, float)) or not points > 0:
                raise BuildError(f"{where}: {kind} cell {cid!r}: points must be a number > 0, got {points!r}")
        elif points is not None:
            raise BuildError(f"{where}: only test and answer cells take points (this is "
                             f"{kind or 'a markdown cell'})")
        source = cell.source
        if kind == "solution":
            problems = _markers(source, "BEGIN SOLUTION", "END SOLUTION")
            if problems:
                raise BuildError(f"{where}: solution cell {cid!r}: {'; '.join(problems)} (the reference answer "
                                 "sits between '### BEGIN SOLUTION' and '### END SOLUTION' lines)")
        elif kind == "test":
            if "BEGIN HIDDEN TESTS" in source:
                problems = [p for p in _markers(source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")]
                if problems:
                    raise BuildError(f"{where}: test cell {cid!r}: {'; '.join(problems)}")
            if "BEGIN SOLUTION" in source:
                raise BuildError(f"{where}: test cell {cid!r} holds a solution region: put it in a solution cell")
        elif kind in ("locked", "checker") or (cell.cell_type == "markdown" and kind is None):
            for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS"):
                if marker in source:
                    raise BuildError(f"{where}: {kind or 'markdown'} cell {cid!r} holds '### {marker}': only "
                                     "solution cells hold solutions, only test cells hidden tests")
        elif kind == "rubric":
            if "MARK SCHEME" in source:
                raise BuildError(f"{where}: rubric cell {cid!r}: write the rubric plainly; the builder adds the "
                                 "mark-scheme markers")
        if not source.strip() and kind != "answer":
            raise BuildError(f"{where}: empty {kind or cell.cell_type} cell")
        lab.cells.append(Cell(cell.cell_type, source, kind, cid, points, line, judged is not False))
    ids = {}
    for c in lab.cells:
        if c.id is not None:
            if c.id in ids:
                raise BuildError(f"{name}:{c.line}: duplicate id {c.id!r} (first at line {ids[c.id]}): ids are "
                                 "nbgrader grade_ids and must be unique")
            ids[c.id] = c.line
    for i, c in enumerate(lab.cells):
        if c.kind == "rubric":
            prev = lab.cells[i - 1] if i else None
            if prev is None or prev.kind != "answer":
                raise BuildError(f"{name}:{c.line}: rubric cell {c.id!r} must follow the answer cell it grades")
    if not any(c.kind == "test" for c in lab.cells):
        raise BuildError(f"{name}: no test cell: a lab needs at least one kind=\"test\" cell with points")
    for c in lab.cells:
        shown = _visible(c.source) if c.kind == "test" else c.source if c.kind in ("locked", "checker") else ""
        if re.search(r"\bstudent_rng\b", shown):
            raise BuildError(f"{name}:{c.line}: {c.kind} cell {c.id!r} uses student_rng outside a hidden region: "
                             "each student's variant is for hidden tests; visible tests are the same for everyone")
    answers = set(lab_answers(c.source for c in lab.cells if c.kind == "solution"))
    for c in lab.cells:
        clash = sorted(answers & set(bound_names(c.source))) if c.kind in ("test", "locked", "checker") else []
        if clash:
            raise BuildError(f"{name}:{c.line}: {c.kind} cell {c.id!r} binds {', '.join(clash)}, which a solution "
                             "cell defines (the student's answer): in the grader only answers are read from the "
                             "student's notebook, so a test or helper must not bind one; rename it")
    return lab


def _nbgrader(grade_id: str, *, grade: bool, solution: bool, locked: bool, task: bool = False,
              points: float | None = None) -> dict[str, Any]:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": task}
    if points is not None:
        meta["points"] = int(points) if float(points).is_integer() else points
    return meta


def to_notebook(lab: LabSource) -> nbformat.NotebookNode:
    """The nbgrader source notebook of a parsed lab."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    if lab.metadata:
        nb.metadata["mlsys_grade"] = lab.metadata
    for i, c in enumerate(lab.cells):
        if c.cell_type == "markdown":
            cell = nbformat.v4.new_markdown_cell(c.source)
        else:
            cell = nbformat.v4.new_code_cell(c.source)
        cell["id"] = c.id or f"cell-{i}"
        if c.kind in ("locked", "checker") or (c.cell_type == "markdown" and c.kind is None and c.id):
            cell.metadata["nbgrader"] = _nbgrader(c.id, grade=False, solution=False, locked=True)
        elif c.kind == "solution":
            cell.metadata["nbgrader"] = _nbgrader(c.id, grade=False, solution=True, locked=False)
        elif c.kind == "test":
            cell.metadata["nbgrader"] = _nbgrader(c.id, grade=True, solution=False, locked=True, points=c.points)
        elif c.kind == "answer":
            cell.metadata["nbgrader"] = _nbgrader(c.id, grade=True, solution=True, locked=False, points=c.points)
        elif c.kind == "rubric":
            cell.source = f"=== BEGIN MARK SCHEME ===\n\n{c.source}\n\n=== END MARK SCHEME ==="
            cell.metadata["nbgrader"] = _nbgrader(c.id, grade=False, solution=False, locked=True, task=True,
                                                  points=0)
        if c.cell_type == "code":
            # JupyterLab's Run All goes on past a cell with this tag (its kernel request does not stop on
            # error): a stub's NotImplementedError or a failing test does not keep the helper cells below
            # it, which a later test needs, from running
            cell.metadata["tags"] = ["raises-exception"]
        if c.kind in ("checker", "rubric"):
            cell.metadata["mlsys_grade"] = {"kind": c.kind}
        if not c.judge:
            cell.metadata["mlsys_grade"] = {"kind": c.kind, "judge": False}
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    """The notebook's file text (what is committed)."""
    return nbformat.writes(nb) + "\n"


def authoring_dir(course_root: Path) -> Path:
    return Path(course_root) / "authoring"


def authored_labs(course_root: Path) -> list[str]:
    d = authoring_dir(course_root)
    return sorted((p.stem for p in d.glob("*.py")), key=lab_key) if d.is_dir() else []


def source_path(course_root: Path, lab: str) -> Path:
    """``labs/authoring/<lab>.py`` of a lab; BuildError for a bad or unknown name."""
    if not isinstance(lab, str) or not LAB_NAME.match(lab):
        raise BuildError(f"lab names are letters, digits, '.', '_' and '-': got {lab!r}")
    path = authoring_dir(course_root) / f"{lab}.py"
    if not path.is_file():
        raise BuildError(f"no authoring file {path}: labs with one are "
                         f"{', '.join(authored_labs(course_root)) or 'none'}")
    return path


def build_lab(course_root: Path, lab: str) -> str:
    """The notebook text that ``labs/authoring/<lab>.py`` builds."""
    path = source_path(course_root, lab)
    return render(to_notebook(parse(path.read_text(), str(path))))


def notebook_path(course_root: Path, lab: str) -> Path:
    return Path(course_root) / "source" / lab / f"{lab}.ipynb"


def build(course_root: Path, labs: list[str] | None = None, check: bool = False) -> dict[str, str]:
    """Build ``labs`` (default: every authored lab). Writes each notebook unless ``check``;
    returns {lab: "written" | "unchanged" | "differs" | "missing"}."""
    labs = labs or authored_labs(course_root)
    if not labs:
        raise BuildError(f"no authoring files in {authoring_dir(course_root)}")
    texts = {lab: build_lab(course_root, lab) for lab in labs}  # all parse before anything is written
    result = {}
    for lab, text in texts.items():
        out = notebook_path(course_root, lab)
        old = out.read_text() if out.is_file() else None
        if old == text:
            result[lab] = "unchanged"
        elif check:
            result[lab] = "missing" if old is None else "differs"
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text)
            result[lab] = "written"
    return result
