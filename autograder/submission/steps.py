"""After a submission ran, in nbgrader's autograde step: its outputs capped (``CapOutputs``, before
grades are saved) and the design questions' rubrics settled (``SettleRubrics``, after)."""

from __future__ import annotations

import copy
import json

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer

from autograder.submission.repair import add_notes

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
