"""Which mutants die (lab QA, issue #13 and #25): each mutant of a lab, automatic or hand-written,
run in the fast trusted runs of ``autograder.qa.run`` by a pool of forked workers; a mutant is
killed only when a test the solution passes fails for every student variant QA runs."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

from autograder.qa.run import plan_for, qa_variants, run_variant, solution_cells, strip_markers

_POOL_STATE: dict[str, Any] = {}  # what the forked workers inherit: the lab, its mutants, the variants


class HandWritten:
    """A mutant of ``autograder/mutants/<lab>/`` (a realistic bug, as text edits of the solution
    cells) in the form the pool runs: {cell: its whole new source}."""

    def __init__(self, path: Path, source_nb):
        from autograder.qa.check import load_mutant

        self.name = path.name
        self.bug, edits = load_mutant(path)
        cells = {gid: strip_markers(src) for gid, src in solution_cells(source_nb).items()}
        for gid, old, new in edits:
            if gid not in cells or cells[gid].count(old) != 1:
                raise ValueError(f"stale mutant {path.name}: {old!r} must occur once in cell {gid!r}")
            cells[gid] = cells[gid].replace(old, new)
        self.answers = {gid: cells[gid] for gid, _old, _new in edits}


def _pool_run(job: tuple[int, int]) -> tuple[tuple[int, int], dict]:
    from autograder.submission.plan import answers_of

    st = _POOL_STATE
    index, v = job
    m = st["mutants"][index]
    plan = plan_for(st["nb"], m.answers if isinstance(m, HandWritten) else {m.cell: m.source})
    return job, run_variant(plan, answers_of(st["nb"]), st["cell_seconds"], stop_at_failure=st["baseline"],
                            wall_seconds=st["wall"], variant=st["variants"][v])


def _killed(res: dict, baseline: set[str]) -> bool:
    return res["fatal"] is not None or not all(ok for gid, ok in res["tests"].items() if gid in baseline)


def mutant_runs(source_nb, mutants: list, baseline: set[str], jobs: int = 2, cell_seconds: float = 20,
                wall_seconds: float = 120, variants: list | None = None) -> list[dict]:
    """Run each mutant, stopping at its first failing test among ``baseline`` (the tests the
    solution passes), on every student variant (a mutant killed for one student but not another
    is a survivor: the lab is not fair). Results in the order of ``mutants``: the first variant's
    run, with ``survives_on`` listing every student it survives for (so a report tells "survives
    everywhere" from "survives for one draw"). A mutant killed on the first variant before any cell
    drew that variant's hidden inputs is killed on every variant, and is not run again."""
    import multiprocessing

    variants = variants or qa_variants(source_nb)
    _POOL_STATE.update(nb=source_nb, mutants=mutants, cell_seconds=cell_seconds, wall=wall_seconds,
                       baseline=set(baseline), variants=variants)
    out: list[dict] = [None] * len(mutants)  # type: ignore[list-item]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(max(1, jobs), maxtasksperchild=25) as pool:
        for (i, _v), res in pool.imap_unordered(_pool_run, [(i, 0) for i in range(len(mutants))]):
            out[i] = dict(res, survives_on=[] if _killed(res, baseline) else [variants[0].student], variants_run=1)
        # killed before any cell drew the variant's inputs: every variant runs the same code on the same
        # inputs up to that point, so it is killed for every student (no need to run the others)
        same_everywhere = {i for i, r in enumerate(out) if not r["survives_on"] and not r["drew"]}
        more = [(i, v) for i in range(len(mutants)) if i not in same_everywhere for v in range(1, len(variants))]
        print(f"{len(mutants)} mutants on {len(variants)} variants: {len(same_everywhere)} killed before any hidden "
              f"input was drawn (run once), {len(mutants) + len(more)} runs", file=sys.stderr, flush=True)
        for (i, v), res in pool.imap_unordered(_pool_run, more):
            out[i]["variants_run"] += 1
            if not _killed(res, baseline):
                out[i]["survives_on"].append(variants[v].student)
    return out


def solution_on_students(source_nb, course_root: Path, students: list[str]) -> dict[str, dict]:
    """The lab's own solution on each of these students' variants (the course's secret): a test it
    fails there is a variant the lab cannot be passed on, a bug in the lab."""
    from autograder.submission.differential import course_secret
    from autograder.submission.differential import Variant
    from autograder.submission.plan import answers_of

    lab = source_nb.metadata.get("mlsys_grade", {}).get("lab", "lab")
    secret = course_secret(course_root)
    out = {}
    for s in students:
        v = Variant(secret, lab, s)
        res = run_variant(plan_for(source_nb, {}), answers_of(source_nb), variant=v)
        out[s] = {"variant": v.fingerprint, "failed": sorted(g for g, ok in res["tests"].items() if not ok),
                  "fatal": res["fatal"]}
    return out


def load_equivalents(path: Path) -> dict[str, str]:
    """{mutant key: reason} from a lab's QA file (``[[equivalent]]`` tables with mutant and reason)."""
    import tomllib

    if not path.is_file():
        return {}
    data = tomllib.loads(path.read_text())
    out = {}
    for i, e in enumerate(data.get("equivalent", [])):
        if not isinstance(e, dict) or not isinstance(e.get("mutant"), str) or not isinstance(e.get("reason"), str) \
                or len(e["reason"].split()) < 3:
            raise ValueError(f"{path}: equivalent #{i + 1} needs mutant = \"<key>\" and reason = \"<one line, "
                             "why no test can tell it apart>\"")
        out[e["mutant"]] = e["reason"]
    return out


def qa_settings(path: Path) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(path.read_text()) if path.is_file() else {}


def automatic_mutants_report(source_nb, equivalents: dict[str, str], baseline: set[str], sample: int | None = None,
                             seed: str = "", jobs: int = 2, variants: list | None = None) -> dict[str, Any]:
    """Kill rate of the lab's automatic mutants (all, or a deterministic sample of ``sample``). A
    mutant is killed when a test that the solution passes (``baseline``) fails, or when it
    crashes or hangs the student side (the grader gives such a submission no points either)."""
    from autograder.qa.mutate import lab_mutants

    tests = [c.source for c in source_nb.cells if c.cell_type == "code"
             and c.metadata.get("nbgrader", {}).get("grade") and not c.metadata.get("nbgrader", {}).get("solution")]
    everything = lab_mutants(solution_cells(source_nb), tests)
    chosen = [m for m in everything if m.key not in equivalents]
    if sample is not None and sample < len(chosen):
        chosen = sorted(random.Random(seed).sample(chosen, sample), key=everything.index)
    t0 = time.perf_counter()
    results = mutant_runs(source_nb, chosen, baseline, jobs=jobs, variants=variants)
    survivors = [m for m, r in zip(chosen, results) if r["survives_on"]]
    killed = len(chosen) - len(survivors)
    stale = sorted(set(equivalents) - {m.key for m in everything})
    return {"total": len(everything), "equivalent": len(equivalents) - len(stale), "run": len(chosen),
            "killed": killed, "kill_rate": round(100.0 * killed / len(chosen), 2) if chosen else 100.0,
            "survivors": [m.key for m in survivors],
            "survives_on": {m.key: r["survives_on"] for m, r in zip(chosen, results) if r["survives_on"]},
            "variants": len(variants or qa_variants(source_nb)), "runs": sum(r["variants_run"] for r in results),
            "stale_equivalents": stale, "sampled": sample is not None
            and sample < len(everything) - len(equivalents), "seconds": round(time.perf_counter() - t0, 2)}
