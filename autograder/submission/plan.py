"""A submission's cells as the grader runs them (issues #12, #23): which run in the sandbox, which
in the judge too, which in the judge alone, in notebook order; and the lab's answers, the only
names the judge reads from the sandbox."""

from __future__ import annotations

from typing import Iterable, NamedTuple

from autograder.submission.names import bound_names, lab_answers


class PlanCell(NamedTuple):
    """One code cell of a submission, as the grader runs it (``autograder.submission.plan.cell_plan``):
    ``kind`` is "student" (the sandbox), "locked" (the sandbox, then the judge unless ``judge``
    is False) or "test" (the judge)."""

    index: int
    kind: str
    gid: str
    code: str
    judge: bool = True


def drive(plan: Iterable[PlanCell], session, judge, cell_seconds: float):
    """Run a submission's cells in notebook order; yields (cell, outputs): a test cell's outputs
    are the judge's, the others' are what the sandbox reported (unchecked)."""
    for cell in plan:
        if cell.kind == "test":
            yield cell, judge.run_test(cell.code, cell.gid)
            continue
        binds = bound_names(cell.code) if cell.kind == "locked" else None
        outs = session.run_cell(cell.code, cell_seconds, binds)
        if cell.kind == "locked" and cell.judge:
            judge.run_locked(cell.code, cell.gid, binds)
        yield cell, outs


def cell_plan(nb, source_nb) -> list[PlanCell]:
    """Every code cell of the submission ``nb``, as the grader runs it: test and locked (and
    checker) cells take their code from the instructor's ``source_nb`` by grade id; a locked cell
    whose source says ``judge: false`` runs in the sandbox only."""
    src = {}
    for c in source_nb.cells:
        gid = c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if c.cell_type == "code" and gid:
            src[gid] = c
    plan = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        gid = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell-{i}"
        s = src.get(gid)
        meta = s.metadata.get("nbgrader", {}) if s is not None else {}
        if s is not None and meta.get("grade") and not meta.get("solution"):
            plan.append(PlanCell(i, "test", gid, s.source))
        elif s is not None and meta.get("locked") and not meta.get("solution"):
            judged = s.metadata.get("mlsys_grade", {}).get("judge", True) is not False
            plan.append(PlanCell(i, "locked", gid, s.source, judged))
        else:
            plan.append(PlanCell(i, "student", gid, cell.source))
    return plan


def answers_of(source_nb) -> list[str]:
    """The lab's answers: the names its solution cells bind (``autograder.submission.judge.lab_answers``)."""
    return lab_answers(c.source for c in source_nb.cells
                       if c.cell_type == "code" and c.get("metadata", {}).get("nbgrader", {}).get("solution"))
