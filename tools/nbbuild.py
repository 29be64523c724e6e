"""Tiny helpers to write nbgrader source notebooks from Python (used by the lab build scripts).

    nb = new_lab()
    md(nb, "# Title")
    setup(nb, "import math", "setup")
    solution(nb, "def f(): ...", "f")           # body holds ### BEGIN/END SOLUTION markers
    tests(nb, "assert f() == 1", "test_f", points=2)
    write(nb, "labs/source/lab0/lab0.ipynb")
"""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def _meta(grade_id: str, *, grade: bool, solution: bool, locked: bool, points: float | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def new_lab() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def md(nb, text: str, grade_id: str | None = None) -> None:
    cell = new_markdown_cell(text.strip())
    if grade_id:
        cell.metadata.update(_meta(grade_id, grade=False, solution=False, locked=True))
    nb.cells.append(cell)


def setup(nb, code: str, grade_id: str) -> None:
    nb.cells.append(new_code_cell(code.strip(), metadata=_meta(grade_id, grade=False, solution=False, locked=True)))


def solution(nb, code: str, grade_id: str) -> None:
    nb.cells.append(new_code_cell(code.strip(), metadata=_meta(grade_id, grade=False, solution=True, locked=False)))


def tests(nb, code: str, grade_id: str, points: float) -> None:
    nb.cells.append(new_code_cell(code.strip(), metadata=_meta(grade_id, grade=True, solution=False, locked=True,
                                                               points=points)))


def write(nb, path: str) -> None:
    for i, cell in enumerate(nb.cells):
        cell["id"] = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell-{i}").replace("_", "-")
    nbformat.validate(nb)
    nbformat.write(nb, path)
