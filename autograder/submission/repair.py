"""Before a submission runs: repair what a student broke by accident (nbgrader's sanitize step).

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
* **Deleted cells**: test and locked cells the submission lost are put back at their place (a
  design question's rubric, which the student's copy never holds, without a note).

Every repair writes a note (``notes_file``: ``grading/notes/<lab>/<student>.json`` in the course,
out of the sandbox's reach); ``mlsys-grade`` adds the notes to the grading record. After the run:
``autograder.submission.steps``; feedback: ``autograder.course.feedback``.
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor

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


def is_rubric(cell) -> bool:
    return cell.get("metadata", {}).get("mlsys_grade", {}).get("kind") == "rubric"
