"""Lab QA: prove that each lab's tests tell right from wrong.

For a lab, in a throw-away copy of the course, with nbgrader doing the grading:

1. the source solution, submitted as a student would (the release with the solution regions
   filled in), earns every autograded point;
2. the released student version earns zero autograded points, and the grader completes;
3. every mutant in ``autograder/mutants/<lab>/*.py`` (a realistic bug, as text edits of the
   solution cells: see docs/labs.md) earns less than the autograded maximum.

Manually graded points (a design question's ``answer`` cell, nbgrader task cells) are reported
apart as ``manual_points``: nbgrader leaves them for the instructor in the formgrader, so no
submission earns them here, and the checks above are against the autograded maximum.

Then, in fast trusted runs judged as the grader judges (``autograder.qa.run``; issue #13):

4. the branch coverage of the solution regions under all the lab's tests (coverage.py), and
5. the kill rate of the automatic mutants (``autograder.qa.mutate``), survivors listed.

The lab's QA file ``autograder/mutants/<lab>/qa.toml`` records equivalent automatic mutants
(``[[equivalent]]`` with ``mutant`` and ``reason``) and, with ``enforce = true``, makes 4 and 5
gates: coverage 100 % (lines marked ``# qa: untested -- <reason>`` excepted) and every automatic
mutant killed or recorded as equivalent. Without it they are reported only.
"""

from __future__ import annotations

import json
import re
import runpy
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import nbformat

from autograder.course.root import Course, CourseError
from autograder.course.batch import autograde

MUTANTS = Path(__file__).parents[1] / "mutants"
MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")


def load_mutant(path: Path) -> tuple[str, list[tuple[str, str, str]]]:
    """(description, edits) of a mutant file; CourseError if it is malformed."""
    ns = runpy.run_path(str(path))
    edits = ns.get("EDITS")
    doc = (ns.get("__doc__") or "").strip()
    if not doc:
        raise CourseError(f"mutant {path.name}: its docstring must describe the bug")
    if not isinstance(edits, list) or not edits or not all(
            isinstance(e, tuple) and len(e) == 3 and all(isinstance(x, str) for x in e) for e in edits):
        raise CourseError(f"mutant {path.name}: EDITS must be a non-empty list of (grade_id, old, new) string tuples")
    return doc.splitlines()[0], edits


def solution_submission(source: Path, release: Path) -> nbformat.NotebookNode:
    """The release notebook with every solution cell holding the source's solution (markers
    removed): what a student who got everything right would submit."""
    src = nbformat.read(source, as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: "\n".join(l for l in c.source.splitlines() if not MARKER.match(l))
               for c in src.cells if c.metadata.get("nbgrader", {}).get("solution")}
    nb = nbformat.read(release, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and gid in answers:
            cell.source = answers[gid]
    return nb


def manual_points(source: Path) -> float:
    """Points of the cells an instructor grades by hand in the source notebook: nbgrader's
    manually graded answers (grade and solution) and task cells."""
    nb = nbformat.read(source, as_version=4)
    total = 0.0
    for c in nb.cells:
        meta = c.metadata.get("nbgrader", {})
        if (meta.get("grade") and meta.get("solution")) or meta.get("task"):
            total += float(meta.get("points") or 0)
    return total


def apply_mutant(nb: nbformat.NotebookNode, name: str, edits: list[tuple[str, str, str]]) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(nb)  # a copy
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells
             if c.metadata.get("nbgrader", {}).get("solution")}
    for gid, old, new in edits:
        if gid not in cells:
            raise CourseError(f"stale mutant {name}: no solution cell {gid!r} (cells: {', '.join(sorted(cells))})")
        n = cells[gid].source.count(old)
        if n != 1:
            raise CourseError(f"stale mutant {name}: {old!r} occurs {n} times in cell {gid!r}, must occur once")
        cells[gid].source = cells[gid].source.replace(old, new)
    return nb


def fast_checks(source: Path, qa_file: Path, sample: int | None = None, jobs: int = 2,
                timeout: float = 3600, hand_written: Path | None = None) -> dict[str, Any]:
    """Coverage and automatic mutants of a source notebook, and the hand-written mutants in
    ``hand_written`` (``autograder.qa.run``, in a fresh process: it forks, so it must not inherit a
    parent's thread pools)."""
    cmd = [sys.executable, "-m", "autograder.qa.run", str(source), "--qa-file", str(qa_file), "--jobs", str(jobs)]
    if sample is not None:
        cmd += ["--sample", str(sample)]
    if hand_written is not None:
        cmd += ["--hand-written", str(hand_written)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=Path(__file__).parents[2])
    if res.returncode != 0:
        raise CourseError(f"the fast QA run of {source.name} failed: {res.stderr.strip()[-2000:]}")
    return json.loads(res.stdout)


def qa_lab(course: Course, lab: str, jobs: int = 1, cell_timeout: float = 60,
           progress: Callable[[str], None] = print, mutants_dir: Path = MUTANTS,
           sample: int | None = None, fast: bool = True, nbgrader_mutants: bool = False) -> dict[str, Any]:
    """Run the checks on ``lab``; returns a report whose ``ok`` says if all held. ``sample``:
    run only that many automatic mutants (a fixed choice per lab; default: all).
    ``nbgrader_mutants``: grade the hand-written mutants through nbgrader and the sandbox too (what
    `make qa` does); otherwise nbgrader grades the solution and the stub, and the hand-written
    mutants are judged in the fast trusted runs, on every student variant (what `make test` does)."""
    t_start = time.perf_counter()
    course.check_lab(lab)
    mutant_files = sorted((mutants_dir / lab).glob("*.py")) if (mutants_dir / lab).is_dir() else []
    mutants = {f"mutant-{re.sub(r'[^A-Za-z0-9_.-]', '-', p.stem)}": (p.name, *load_mutant(p)) for p in mutant_files}
    with tempfile.TemporaryDirectory(prefix=f"qa-{lab}-") as tmp:
        root = Path(tmp)
        shutil.copy(course.root / "nbgrader_config.py", root)
        shutil.copytree(course.root / "source" / lab, root / "source" / lab)
        tc = Course(root)
        progress(f"{lab}: releasing in a scratch course")
        release = tc.generate_assignment(lab)
        solved = solution_submission(tc.source_notebook(lab), release)
        subs = {"solution": solved, "stub": nbformat.read(release, as_version=4)}
        for sid, (fname, _doc, edits) in mutants.items():
            mutated = apply_mutant(solved, fname, edits)  # a stale mutant is an error either way
            if nbgrader_mutants or not fast:
                subs[sid] = mutated
        for sid, nb in subs.items():
            dest = tc.submitted_notebook(lab, sid)
            dest.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, dest)
        progress(f"{lab}: grading the solution, the stub" + (f" and {len(subs) - 2} mutants" if len(subs) > 2 else ""))
        summary = autograde(tc, lab, jobs=jobs, cell_timeout=cell_timeout, progress=lambda m: progress("  " + m))
    res = {r["student"]: r for r in summary["results"]}
    manual = manual_points(course.source_notebook(lab))
    max_score = res["solution"]["max_score"] - manual  # the autograded maximum
    failures = []
    sol = res["solution"]
    if sol["status"] != "graded" or sol["score"] != max_score or sol["notes"]:
        failures.append(f"solution earns {sol['score']:g}/{max_score:g} autograded points ({sol['status']}; "
                        f"{sol.get('reason') or ''} {'; '.join(sol['notes'])}), must earn them all")
    stub = res["stub"]
    if stub["status"] != "graded":
        failures.append(f"released version broke the grader: {stub['reason']}")
    elif stub["score"] != 0:
        free = {c: s for c, s in stub["cells"].items() if s}
        failures.append(f"released version earns {stub['score']:g} points without any work: cells {free}")
    if not mutants:
        failures.append(f"no mutants in {mutants_dir / lab}: add realistic-bug mutants (docs/labs.md)")
    graded_mutants = {sid for sid in mutants if sid in res}
    for sid in graded_mutants:
        fname, doc, _edits = mutants[sid]
        if res[sid]["score"] >= max_score:
            failures.append(f"mutant {fname} ({doc}) earns full marks: the tests do not catch it")
    report = {"lab": lab, "max_score": max_score, "manual_points": manual, "solution": sol["score"], "stub": stub["score"],
              "mutants": {mutants[sid][0]: {"bug": mutants[sid][1], "score": res[sid]["score"]}
                          for sid in graded_mutants},
              "failures": failures}
    if fast:
        qa_file = mutants_dir / lab / "qa.toml"
        progress(f"{lab}: branch coverage, automatic mutants" + (f" (a sample of {sample})" if sample else "")
                 + (", hand-written mutants" if not nbgrader_mutants else "") + ", on every student variant")
        extra = fast_checks(course.source_notebook(lab), qa_file, sample=sample, jobs=max(1, jobs),
                            hand_written=None if nbgrader_mutants else mutants_dir / lab)
        for name, h in extra.get("hand_written", {}).items():
            # a test the solution passes fails for every variant: the mutant loses points; otherwise it
            # earns full marks for the students it survives for
            report["mutants"][name] = {"bug": h["bug"], "failed": h["failed"], "survives_on": h["survives_on"]}
            if h["survives_on"]:
                failures.append(f"mutant {name} ({h['bug']}) earns full marks for {', '.join(h['survives_on'])}: "
                                "the tests do not catch it")
        report.update({k: v for k, v in extra.items() if k != "hand_written"})
        report["enforced"] = bool(_settings(qa_file).get("enforce", False))
        failures += _fast_failures(extra, report["enforced"], progress)
    report["ok"] = not failures
    report["seconds"] = round(time.perf_counter() - t_start, 1)
    progress(f"{lab}: {'OK' if report['ok'] else 'FAILED'}: solution {sol['score']:g}/{max_score:g}"
             + (f" (+{manual:g} graded by hand)" if manual else "") + ", "
             f"stub {stub['score']:g}, mutants " + ", ".join(f"{v['score']:g}" if "score" in v else
                                                             ("caught" if not v["survives_on"] else "NOT CAUGHT")
                                                             for v in report["mutants"].values()))
    for f in failures:
        progress(f"  - {f}")
    return report


def _settings(qa_file: Path) -> dict[str, Any]:
    from autograder.qa.mutant_runs import qa_settings

    return qa_settings(qa_file)


def _fast_failures(extra: dict[str, Any], enforced: bool, progress: Callable[[str], None]) -> list[str]:
    """Report coverage and automatic mutants; the failures they are when the lab enforces them."""
    cov, auto = extra["coverage"], extra["automatic_mutants"]
    progress(f"  branch coverage of the solution regions: {cov['percent']:g} % "
             f"({cov['statements']} statements, {cov['branches']} branches)")
    for m in cov["missing"]:
        progress(f"    not covered: {m}")
    progress(f"  automatic mutants: {auto['killed']}/{auto['run']} killed ({auto['kill_rate']:g} %)"
             + (f", a sample of {auto['total']}" if auto["sampled"] else f" of {auto['total']}")
             + f", {auto['equivalent']} recorded as equivalent")
    for key in auto["survivors"]:
        progress(f"    survivor: {key}")
    hard = [f"{m}" for m in cov["unexplained"]]
    hard += [f"equivalent mutant {k!r} in qa.toml matches no automatic mutant (stale): remove it"
             for k in auto["stale_equivalents"]]
    soft = []
    if cov["percent"] < 100:
        soft.append(f"branch coverage {cov['percent']:g} % < 100 %: {len(cov['missing'])} lines/branches no test "
                    "drives (add a test, or mark the line '# qa: untested -- <reason>')")
    if auto["survivors"]:
        soft.append(f"{len(auto['survivors'])} automatic mutants survive: kill each with a test or record it in "
                    "qa.toml as equivalent with a reason")
    if not enforced and soft:
        progress("  (not enforced for this lab: qa.toml has no 'enforce = true')")
    return hard + (soft if enforced else [])
