"""Before and after a submission runs: repair what a student broke by accident, cap what it made.

``RepairFromSource`` runs first in nbgrader's sanitize step (before ``DeduplicateIds``,
``OverwriteCells`` and ``CheckCellMetadata``, which would otherwise fail the notebook or grade a
copy in the wrong place). It rebuilds the notebook's nbgrader structure from the lab's own
cells, matched by grade id, so honest work is graded instead of failing with 0:

* **Metadata** of every cell with a known grade id is the release's (odd or outdated metadata
  from another nbgrader version, an edited schema version, lost points); nbgrader metadata
  with a grade id this lab does not have is removed (the cell runs as an ordinary cell).
* **Duplicates** (a copy-pasted cell, so a grade id appears twice): an instructor's cell
  (test, locked) is kept once; copies identical to it are removed, edited copies stay as
  ordinary cells. A solution cell keeps its grade id on its last edited copy; the other copies
  stay as ordinary cells, so everything the student wrote still runs, in the student's order.
* **Moved cells**: when the graded cells are out of the lab's order, each one is put back in
  order together with the student's own cells that followed it.
* **Deleted cells**: test and locked cells the submission lost are put back at their place.

``CapOutputs`` runs in the autograde step after the notebook ran: the outputs of one submission
are capped in total (``max_total_kb``); past the cap, outputs that decide a grade (errors,
stderr, results) are cut short and the others dropped, so grades do not change.

Every repair and cap writes a note (``notes_file``: ``grading/notes/<lab>/<student>.json`` in
the course, out of the sandbox's reach); ``mlsys-grade`` adds the notes to the grading record.

``HideHiddenTests`` runs in nbgrader's generate_feedback step (after ``GetGrades``): a test cell
shows its visible tests and the judge's verdict alone (``VERDICTS``: passed, failed in the
visible tests, failed in a hidden test, ran past its time limit), and no code cell that ran
after the first test cell with hidden tests shows its output, since student code may keep what a
hidden test passed it and show it later. The formgrader keeps every output (``autograder.inert``
makes them inert).
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer

HIDDEN = re.compile(r"^\s*### BEGIN HIDDEN TESTS\s*$.*?^\s*### END HIDDEN TESTS\s*$\n?", re.M | re.S)
FLAGS_KEY = "mlsys_grade_flags"


def visible(source: str) -> str:
    """A test cell's source as the student received it (hidden tests removed)."""
    return HIDDEN.sub("", source).strip()


def _meta(cell) -> dict:
    m = cell.get("metadata", {}).get("nbgrader")
    return m if isinstance(m, dict) else {}


def _gid(cell) -> str | None:
    g = _meta(cell).get("grade_id")
    return g if isinstance(g, str) and g else None


def _instructors(meta: dict) -> bool:
    return bool(meta.get("grade") or meta.get("locked")) and not meta.get("solution")


def _kind(meta: dict) -> str:
    return "test" if meta.get("grade") and not meta.get("solution") else (
        "locked" if _instructors(meta) else "solution")


def _course_root() -> Path:
    return Path(os.environ.get("MLSYS_COURSE_ROOT") or Path.cwd())


def notes_file(root: Path, lab: str, student: str) -> Path:
    """Where the notes on one submission go: under the course's grading/ folder, not beside the
    autograded notebook (whose folder's files are copied into the sandbox)."""
    return Path(root) / "grading" / "notes" / lab / f"{student}.json"


def notes_path(resources) -> Path | None:
    """The notes file of the notebook being graded (None outside nbgrader autograde)."""
    info = resources.get("nbgrader", {})
    if not info.get("student") or not info.get("assignment"):
        return None
    return notes_file(_course_root(), info["assignment"], info["student"])


def add_notes(resources, notes: list[str], reset: bool = False) -> None:
    path = notes_path(resources)
    if path is None or (not notes and not reset):
        return
    old = [] if reset or not path.is_file() else json.loads(path.read_text()).get("flags", [])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"flags": old + [n for n in notes if n not in old]}))


def _lab_notebooks(resources):
    """(source, release) notebooks of the lab being graded; release falls back to the source."""
    info = resources.get("nbgrader", {})
    root = _course_root()
    lab, name = info.get("assignment", ""), info.get("notebook", "")
    source = root / "source" / lab / f"{name}.ipynb"
    release = root / "release" / lab / f"{name}.ipynb"
    if not lab or not source.is_file():
        return None, None
    src = nbformat.read(source, as_version=4)
    rel = nbformat.read(release, as_version=4) if release.is_file() else src
    return src, rel


def repair(nb, source, release) -> list[str]:
    """Repair ``nb`` in place from the lab's ``source`` and ``release`` notebooks (see the module
    docstring); returns the notes, one per kind of repair."""
    notes: list[str] = []
    order = {g: i for i, g in enumerate(_gid(c) for c in source.cells) if g}
    src_cell = {_gid(c): c for c in source.cells if _gid(c)}
    rel_meta = {_gid(c): _meta(c) for c in release.cells if _gid(c)}
    rel_src = {_gid(c): c.source for c in release.cells if _gid(c)}
    for g, c in src_cell.items():
        rel_meta.setdefault(g, _meta(c))

    # 1. metadata: the release's, by grade id
    odd, unknown = [], []
    for c in nb.cells:
        m = _meta(c)
        if not m and "nbgrader" not in c.get("metadata", {}):
            continue
        g = _gid(c)
        if g in rel_meta:
            want = copy.deepcopy(dict(rel_meta[g]))
            if {k: v for k, v in m.items() if k != "checksum"} != {k: v for k, v in want.items() if k != "checksum"}:
                odd.append(g)
            if _instructors(want) and c.cell_type != src_cell[g].cell_type:
                fresh = nbformat.from_dict(copy.deepcopy(src_cell[g]))
                c.clear()
                c.update(fresh)
                if c.cell_type == "code":
                    c.outputs, c.execution_count = [], None
            elif c.cell_type != want.get("cell_type", c.cell_type):
                c.cell_type = want["cell_type"]
                if c.cell_type == "code":
                    c.outputs, c.execution_count = [], None
                else:
                    c.pop("outputs", None)
                    c.pop("execution_count", None)
            c.metadata["nbgrader"] = nbformat.from_dict(want)
        else:
            if g or m.get("grade") or m.get("solution") or m.get("locked"):
                unknown.append(g or "(none)")
            del c.metadata["nbgrader"]
    if odd:
        notes.append(f"nbgrader metadata of {_names(odd)} differed from the release (another nbgrader version, or "
                     "edited): the release's was used")
    if unknown:
        notes.append(f"cells with grade ids this lab does not have ({_names(unknown)}): graded as ordinary cells")

    # 2. duplicates: one graded cell per grade id
    cells = list(nb.cells)
    by_gid: dict[str, list] = {}
    for c in cells:
        if _gid(c):
            by_gid.setdefault(_gid(c), []).append(c)
    dup_notes = []
    for g, copies in by_gid.items():
        if len(copies) < 2:
            continue
        meta = rel_meta[g]
        if _instructors(meta):
            keep = copies[0]
            for c in copies[1:]:
                if visible(c.source) == visible(keep.source) or visible(c.source) == visible(src_cell[g].source):
                    cells = [x for x in cells if x is not c]
                else:
                    del c.metadata["nbgrader"]
            dup_notes.append(f"{_kind(meta)} cell {g!r} appeared {len(copies)} times (copy-pasted): graded once, "
                             "as the instructor wrote it")
        else:
            edited = [c for c in copies if c.source.strip() != rel_src.get(g, "").strip()]
            keep = (edited or copies)[-1]
            for c in copies:
                if c is not keep:
                    del c.metadata["nbgrader"]
            dup_notes.append(f"solution cell {g!r} appeared {len(copies)} times (copy-pasted): every copy runs in "
                             "the student's order; the last edited one is the graded answer")
    notes += dup_notes

    # 3. moved cells: blocks (a graded cell and the student's cells after it) back in the lab's order
    blocks: list[list] = [[]]
    for c in cells:
        if _gid(c) in order:
            blocks.append([c])
        else:
            blocks[-1].append(c)
    head, rest = blocks[0], blocks[1:]
    keys = [order[_gid(b[0])] for b in rest]
    if keys != sorted(keys):
        stay = _longest_increasing(keys)  # the fewest cells that explain the disorder are the moved ones
        moved = sorted((_gid(rest[i][0]) for i in range(len(keys)) if i not in stay), key=lambda g: order[g])
        rest = sorted(rest, key=lambda b: order[_gid(b[0])])
        notes.append(f"cells out of the lab's order were put back in place, each with the student's cells that "
                     f"followed it: {_names(moved)}")
        cells = head + [c for b in rest for c in b]

    # 4. deleted instructor cells: put back at their place
    present = {_gid(c) for c in cells if _gid(c)}
    ids = {c.get("id") for c in cells}
    restored = []
    for i, scell in enumerate(source.cells):
        g = _gid(scell)
        if not g or g in present or not _instructors(rel_meta.get(g, {})):
            continue
        pos = 0
        for prev in reversed(source.cells[:i]):
            if _gid(prev) in present:
                pos = max(j for j, c in enumerate(cells) if _gid(c) == _gid(prev)) + 1
                while pos < len(cells) and not _gid(cells[pos]):  # after the student's cells that follow it
                    pos += 1
                break
        fresh = nbformat.from_dict(copy.deepcopy(scell))
        fresh.metadata["nbgrader"] = nbformat.from_dict(copy.deepcopy(dict(rel_meta[g])))
        if fresh.cell_type == "code":
            fresh.outputs, fresh.execution_count = [], None
        if fresh.get("id") in ids:
            fresh["id"] = f"{fresh['id']}-restored"
        ids.add(fresh.get("id"))
        cells.insert(pos, fresh)
        present.add(g)
        restored.append((_kind(rel_meta[g]), g))
    rubrics = {_gid(c) for c in source.cells if is_rubric(c)}
    for kind, g in restored:
        if g not in rubrics:  # a rubric is not in the student's version at all (DropRubrics)
            notes.append(f"{kind} cell {g!r} was deleted: the instructor's version was put back and graded")

    # edited instructor cells: nbgrader's OverwriteCells restores them; say so
    for c in cells:
        g = _gid(c)
        if g and _instructors(rel_meta[g]) and g not in {x for _, x in restored}:
            if visible(c.source) != visible(src_cell[g].source) and visible(c.source) != visible(rel_src.get(g, "")):
                notes.append(f"{_kind(rel_meta[g])} cell {g!r} was edited: the instructor's version was graded")
    nb.cells = cells
    return notes


def _longest_increasing(keys: list[int]) -> set[int]:
    """Indices of one longest strictly increasing subsequence of ``keys`` (O(n^2): a notebook's cells)."""
    best = [1] * len(keys)
    prev = [-1] * len(keys)
    for i in range(len(keys)):
        for j in range(i):
            if keys[j] < keys[i] and best[j] + 1 > best[i]:
                best[i], prev[i] = best[j] + 1, j
    i = max(range(len(keys)), key=lambda k: best[k]) if keys else -1
    out = set()
    while i != -1:
        out.add(i)
        i = prev[i]
    return out


def _names(gids: list[str]) -> str:
    shown = ", ".join(repr(g) for g in gids[:5])
    return shown + (f" and {len(gids) - 5} more" if len(gids) > 5 else "")


class RepairFromSource(NbGraderPreprocessor):
    """nbgrader sanitize step: ``repair`` the submission from the lab's cells (first in the list)."""

    def preprocess(self, nb, resources):
        source, release = _lab_notebooks(resources)
        nb.metadata.pop(FLAGS_KEY, None)  # never trusted from a submission: dropped
        notes = repair(nb, source, release) if source is not None else []
        add_notes(resources, notes, reset=True)
        return nb, resources


RestoreMissingCells = RepairFromSource  # the name older course configs use


# ---- after the run: a cap on one submission's outputs -----------------------------------------------
KEEP_BYTES = 2000  # what is left of an output that decides a grade, past the cap


def _size(out) -> int:
    return len(json.dumps(out, default=str))


def _cut(out):
    """A short version of an output that decides a grade (error, stderr, result)."""
    out = copy.deepcopy(out)
    t = out.get("output_type")
    if t == "error":
        out["evalue"] = str(out.get("evalue", ""))[:KEEP_BYTES]
        out["traceback"] = [str(line)[:KEEP_BYTES] for line in out.get("traceback", [])[-5:]]
    elif t == "stream":
        text = "".join(out.get("text", ""))
        out["text"] = text[:KEEP_BYTES] + ("\n[cut: this submission's outputs passed their cap]\n"
                                           if len(text) > KEEP_BYTES else "")
    elif t == "execute_result":
        plain = out.get("data", {}).get("text/plain", "")
        plain = "".join(plain) if isinstance(plain, list) else str(plain)
        out["data"] = {"text/plain": plain[:KEEP_BYTES]}
        out["metadata"] = {}
    return out


def cap_outputs(nb, budget: int) -> tuple[int, int, int]:
    """Cap the notebook's outputs at ``budget`` bytes in total (in place). Returns (bytes the
    outputs came to, outputs dropped, outputs cut)."""
    used = total = dropped = cut = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept, gone = [], 0
        for out in cell.get("outputs", []):
            size = _size(out)
            total += size
            if used + size <= budget:
                kept.append(out)
                used += size
            elif out.get("output_type") in ("error", "execute_result") or (
                    out.get("output_type") == "stream" and out.get("name") == "stderr"):
                short = _cut(out)  # decides the grade (nbgrader: error or stderr -> 0, a result -> partial credit)
                kept.append(nbformat.from_dict(short))
                used += _size(short)
                cut += 1
            else:
                gone += 1
        if gone:
            kept.append(nbformat.v4.new_output("stream", name="stdout", text=f"[{gone} outputs dropped: this "
                                               f"submission's outputs passed their cap of {budget >> 10} KiB]\n"))
        dropped += gone
        cell.outputs = kept
    return total, dropped, cut


class CapOutputs(NbGraderPreprocessor):
    """nbgrader autograde step, after the run and before grades are saved: ``cap_outputs``."""

    max_total_kb = Integer(4096, help="total output of one submission kept in the autograded notebook, KiB"
                           ).tag(config=True)

    def preprocess(self, nb, resources):
        budget = self.max_total_kb << 10
        total, dropped, cut = cap_outputs(nb, budget)
        if dropped or cut:
            add_notes(resources, [f"outputs came to {total / 2**20:.1f} MiB, over the cap of {budget / 2**20:g} MiB "
                                  f"per submission: {dropped} dropped and {cut} cut short in the autograded notebook "
                                  "(grades unaffected)"])
        return nb, resources


# ---- feedback: a test cell shows the judge's verdict, and nothing a hidden test gave student code ----------
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


class SettleRubrics(NbGraderPreprocessor):
    """Runs after nbgrader's SaveAutoGrades. A rubric is an nbgrader task cell worth 0 points (so
    the formgrader shows its mark scheme beside the answer it grades); nbgrader marks every task as
    awaiting a manual grade, which would keep each submission "needs manual grade" after its
    answers are graded. Those 0-point tasks are settled here; answer cells keep awaiting the
    instructor. As a preprocessor it holds for `mlsys-grade autograde` and the formgrader alike."""

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook, TaskCell

        r = resources["nbgrader"]
        with Gradebook(r["db_url"]) as gb:
            sub = gb.find_submission_notebook(r["notebook"], r["assignment"], r["student"])
            for g in sub.grades:
                if isinstance(g.cell, TaskCell) and not g.cell.max_score and g.needs_manual_grade:
                    g.auto_score, g.needs_manual_grade = 0.0, False
            gb.db.commit()
        return nb, resources


class DropRubrics(NbGraderPreprocessor):
    """nbgrader generate_assignment, last: a design question's rubric (an nbgrader task cell worth
    0 points, saved in the gradebook by then) is left out of the student's version, where an empty
    locked cell would look like a second answer box. Autograde puts it back from the source
    (``RepairFromSource``), so the formgrader shows it under the answer it grades."""

    def preprocess(self, nb, resources):
        nb.cells = [c for c in nb.cells if not is_rubric(c)]
        return nb, resources


def is_rubric(cell) -> bool:
    return cell.get("metadata", {}).get("mlsys_grade", {}).get("kind") == "rubric"
