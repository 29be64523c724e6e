"""Lab 3: the source notebook (solutions in) runs clean on a real kernel, and every mutant still
applies to it (the full QA, grading each mutant, runs in tests/test_labs_qa.py)."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autograder.qa.check import apply_mutant, load_mutant

ROOT = Path(__file__).resolve().parents[2]
LAB = "lab3-continuous-batching"
NB = ROOT / "labs" / "source" / LAB / f"{LAB}.ipynb"


def test_lab_solution_runs_clean():
    nb = nbformat.read(NB, as_version=4)
    # the names the judge gives every test cell (autograder.submission.differential): a plain kernel has none
    nb.cells.insert(0, nbformat.v4.new_code_cell(
        "from autograder.submission.differential import StudentRng, Variant, same_as_reference\n"
        f"student_rng = StudentRng(Variant(b'tests', {LAB!r}, 'a kernel'))"))
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    graded = [c.metadata["nbgrader"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert sum(m["points"] for m in graded if not m["solution"]) == 15  # test cells, autograded
    assert sum(m["points"] for m in graded if m["solution"]) == 2  # the design question's "why", graded by hand


def test_at_least_six_mutants_apply_and_change_code():
    nb = nbformat.read(NB, as_version=4)
    mutants = sorted((ROOT / "autograder" / "mutants" / LAB).glob("*.py"))
    assert len(mutants) >= 6
    for path in mutants:
        _, edits = load_mutant(path)
        mutated = apply_mutant(nb, path.name, edits)
        assert [c.source for c in mutated.cells] != [c.source for c in nb.cells], path.name
