"""Before a submission runs: put the instructor's cells back and note what the student changed.

``RestoreMissingCells`` runs in nbgrader's sanitize step, before ``OverwriteCells`` (which
restores the *content* of test and locked cells that are still there, by cell id). It puts back
every test or locked cell of the source notebook that the submission deleted, at its place,
and records a flag for each deleted or edited one. Flags travel in the notebook's metadata to
``SandboxedExecute``, which writes them beside the autograded notebook.
"""

from __future__ import annotations

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


def _gid(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _instructors(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade") or meta.get("locked")) and not meta.get("solution")


class RestoreMissingCells(NbGraderPreprocessor):
    def preprocess(self, nb, resources):
        info = resources.get("nbgrader", {})
        root = Path(os.environ.get("MLSYS_COURSE_ROOT") or Path.cwd())
        source = root / "source" / info.get("assignment", "") / f"{info.get('notebook', '')}.ipynb"
        if not source.is_file():
            return nb, resources
        src = nbformat.read(source, as_version=4)
        flags = list(nb.metadata.get(FLAGS_KEY, []))
        have = {_gid(c): c for c in nb.cells if _gid(c)}
        cells = list(nb.cells)
        for i, scell in enumerate(src.cells):
            gid = _gid(scell)
            if not gid or not _instructors(scell):
                continue
            if gid in have:
                if visible(have[gid].source) != visible(scell.source):
                    kind = "test" if scell.metadata["nbgrader"].get("grade") else "locked"
                    flags.append(f"{kind} cell {gid!r} was edited: the instructor's version was graded")
                continue
            kind = "test" if scell.metadata["nbgrader"].get("grade") else "locked"
            flags.append(f"{kind} cell {gid!r} was deleted: the instructor's version was put back and graded")
            # after the nearest earlier source cell that the submission still has
            pos = 0
            for prev in reversed(src.cells[:i]):
                if _gid(prev) in {_gid(c) for c in cells}:
                    pos = next(j for j, c in enumerate(cells) if _gid(c) == _gid(prev)) + 1
                    break
            restored = nbformat.from_dict(scell)
            restored.outputs = [] if restored.cell_type == "code" else restored.get("outputs")
            if restored.cell_type == "code":
                restored.execution_count = None
            cells.insert(pos, restored)
            have[gid] = restored
        nb.cells = cells
        nb.metadata[FLAGS_KEY] = flags
        return nb, resources


class HideHiddenTests(NbGraderPreprocessor):
    """For feedback: a test cell shows its name, its visible tests and whether it passed; the
    hidden tests' code, and tracebacks that could quote it, are left out."""

    def preprocess(self, nb, resources):
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
                continue
            hidden = HIDDEN.findall(cell.source)
            if not hidden:
                continue
            n = sum(len(h.strip().splitlines()) - 2 for h in hidden)
            cell.source = visible(cell.source) + f"\n# {meta.get('grade_id')}: {n} hidden test lines (not shown)"
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["evalue"] = ""
                    out["traceback"] = [f"{out.get('ename', 'Error')}: a test in {meta.get('grade_id')!r} failed "
                                        "(it may be one of the hidden tests)"]
        return nb, resources
