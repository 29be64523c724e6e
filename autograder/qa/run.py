"""Fast, trusted runs of a lab for QA: branch coverage of the solution cells and automatic mutants.

Lab QA grades OUR OWN code (the reference solution and mutants of it), so it needs no sandbox,
but it must judge exactly as the real grader does (docs/grading.md): student and locked cells
run in a separate process through ``autograder.submission.runner`` (IPython, as in the sandbox), test
cells run here in ``autograder.submission.judge`` against that process over the channel, locked and
checker cells run in both, and the cell plan is ``autograder.submission.plan.cell_plan``'s. What is
left out is only the isolation (namespaces, rlimits, uid).

Speed: this process imports what the lab imports once, then forks a worker pool; for each
variant a worker forks the student-side process (so torch, IPython and mlsys_kit are already
loaded there) and, for a mutant, stops at the first test that fails (a mutant that loses any
point is killed; the tests before the mutated cell cannot fail and still run, in order, since
later tests may use what they bound). Run as a subprocess (``python -m autograder.qa.run``) so
that no OpenMP thread pool of a parent (pytest) is forked.

The student side sees the kit the sandbox holds: ``main`` copies ``mlsys_kit`` filtered for the
lab's reference (``autograder.submission.kit``: the reference and what imports it left out) into a
temporary folder, and each student-side process drops the kit modules it inherited and imports
``mlsys_kit`` from that copy only (first on ``sys.path``, and a finder first on ``sys.meta_path``
that refuses any ``mlsys_kit`` module found elsewhere, such as through the editable install's
finder). A lab whose locked cells need its own reference fails QA, as it would fail grading.

Branch coverage (coverage.py, branch mode) is measured on the solution regions only (what
students write), under every test cell of the lab, visible and hidden. A line may be exempted
with ``# qa: untested -- <reason>`` (coverage then excludes the line and the block it opens);
the reason is required.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

UNTESTED = r"#\s*qa:\s*untested\b"
UNTESTED_WITH_REASON = re.compile(r"#\s*qa:\s*untested\s*--\s*\S.{4,}")
MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")


# ---- the submission a variant is ------------------------------------------------------------
def solution_cells(source_nb) -> dict[str, str]:
    """{grade id: source with markers} of the solution code cells of an nbgrader source notebook."""
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in source_nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}


def strip_markers(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not MARKER.match(line))


def plan_for(source_nb, answers: dict[str, str]) -> list:
    """The grader's cell plan for a submission whose solution cells hold ``answers`` (by grade
    id; missing ones: the source's solution with its markers removed)."""
    import nbformat

    from autograder.submission.plan import cell_plan

    sub = nbformat.from_dict(source_nb)
    for c in sub.cells:
        meta = c.metadata.get("nbgrader", {})
        if c.cell_type == "code" and meta.get("solution"):
            c.source = answers.get(meta["grade_id"], strip_markers(c.source))
    return cell_plan(sub, source_nb)


# ---- one variant: fork the student side, judge here -----------------------------------------
_KIT_ROOT: list[str] = []  # the folder holding the filtered mlsys_kit (set by main)


def prepare_kit(source_nb, dest: str) -> str:
    """Copy mlsys_kit filtered for the lab's reference to ``dest`` (compiled there, so that each
    student side loads it fast) and use it for every student side from now on."""
    import compileall

    from autograder.submission.kit import copy_kit

    copy_kit(source_nb.metadata.get("mlsys_grade", {}).get("reference", []), Path(dest))
    compileall.compile_dir(str(Path(dest) / "mlsys_kit"), quiet=2)
    _KIT_ROOT[:] = [dest]
    return dest


class _KitOnly:
    """A meta path finder, first: ``mlsys_kit`` and its modules come from the filtered copy or
    not at all (a later finder, e.g. the editable install's, would find the whole kit)."""

    def __init__(self, root: str):
        self.root = os.path.join(root, "mlsys_kit")

    def find_spec(self, name, path=None, target=None):
        if name != "mlsys_kit" and not name.startswith("mlsys_kit."):
            return None
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, [os.path.dirname(self.root)] if name == "mlsys_kit" else path)
        where = (spec.origin or "") if spec is not None else ""
        if spec is None or not os.path.abspath(where).startswith(self.root + os.sep):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return spec


def _confine_kit(root: str) -> None:
    """In the student side: forget the kit modules inherited from the parent, import the kit from
    the filtered copy only, and check that this is where ``mlsys_kit`` now comes from."""
    import importlib
    import importlib.util

    for name in [n for n in sys.modules if n == "mlsys_kit" or n.startswith("mlsys_kit.")]:
        del sys.modules[name]
    sys.path.insert(0, root)
    sys.meta_path.insert(0, _KitOnly(root))
    importlib.invalidate_caches()
    spec = importlib.util.find_spec("mlsys_kit")
    if spec is None or not (spec.origin or "").startswith(os.path.join(root, "mlsys_kit") + os.sep):
        raise ImportError(f"the student side would import mlsys_kit from {spec and spec.origin}, not {root}")


def _student_side(sock, cell_seconds: float, cov: dict | None) -> None:
    """In the forked child: serve the judge as the sandbox's runner does; never returns."""
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(devnull, target)
        if _KIT_ROOT:
            _confine_kit(_KIT_ROOT[0])
        cv = None
        if cov:
            import coverage

            cv = coverage.Coverage(data_file=cov["data_file"], branch=True, include=[cov["dir"] + "/*"],
                                   config_file=False)
            cv.exclude(UNTESTED)
            cv.start()
        from autograder.submission.runner import Runner

        runner = Runner(sock, cell_seconds, cell_seconds, 1 << 20)
        runner.reply({"ready": True})
        try:
            runner.loop()
        finally:  # however the channel ended, keep what was measured
            if cv is not None:
                cv.stop()
                cv.save()
    finally:
        os._exit(0)


QA_SECRET = b"mlsys-grade qa: students' variants"  # QA's own course secret (autograder.submission.differential)
VARIANTS = 3


def qa_variants(source_nb, count: int = VARIANTS) -> list:
    """The student variants QA runs a lab on: as many students' hidden inputs (``student_rng``)."""
    from autograder.submission.differential import Variant

    lab = source_nb.metadata.get("mlsys_grade", {}).get("lab") or "lab"
    return [Variant(QA_SECRET, lab, f"qa-student-{i}") for i in range(max(1, count))]


def run_variant(plan, answers: list[str], cell_seconds: float = 30, stop_at_failure: set[str] | None = None,
                cov: dict | None = None, wall_seconds: float = 300, variant=None) -> dict[str, Any]:
    """Run one submission's plan (``answers``: the lab's answer names; ``variant``: the student
    whose hidden inputs the tests draw); returns {"tests": {gid: passed}, "fatal": str|None,
    "seconds", "drew"}. With ``stop_at_failure`` (test ids), stop at the first of those tests that
    fails. ``drew``: whether any cell drew the variant's hidden inputs (``student_rng``) before the
    run ended; a run that drew none is the same run for every variant."""
    from autograder.submission import channel
    from autograder.submission.judge import Judge, SandboxLost, Session
    from autograder.submission.plan import drive

    t0 = time.perf_counter()
    mine, theirs = channel.socketpair()
    pid = os.fork()
    if pid == 0:
        mine.close()
        _student_side(theirs, cell_seconds, cov)
    theirs.close()
    session = Session(mine, request_seconds=cell_seconds, grace=5.0, deadline=time.monotonic() + wall_seconds)
    judge = Judge(session, test_seconds=cell_seconds * 4, answers=answers, variant=variant)
    tests: dict[str, bool] = {}
    fatal = None
    try:
        session.wait_ready(60)
        for cell, outs in drive(plan, session, judge, cell_seconds):
            if cell.kind == "test":
                tests[cell.gid] = not any(o.get("output_type") == "error" for o in outs)
                if stop_at_failure and cell.gid in stop_at_failure and not tests[cell.gid]:
                    break
    except SandboxLost as exc:
        fatal = str(exc)
    finally:
        mine.close()
        deadline = time.monotonic() + (180 if cov else 5)
        while time.monotonic() < deadline:  # the child saves its coverage data after the channel closes
            done, _status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.02)
        else:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    return {"tests": tests, "fatal": fatal, "seconds": round(time.perf_counter() - t0, 2), "notes": judge.notes,
            "drew": judge.rng.draws > 0}


# ---- coverage ---------------------------------------------------------------------------------
def _region_lines(source: str) -> set[int]:
    """Lines (1-based, in the source with markers removed) that were inside solution regions."""
    inside, out, n = False, set(), 0
    for line in source.splitlines():
        m = MARKER.match(line)
        if m:
            inside = m.group(1) == "BEGIN"
            continue
        n += 1
        if inside:
            out.add(n)
    return out


def coverage_run(source_nb, cell_seconds: float = 30, variants: list | None = None) -> dict[str, Any]:
    """Branch coverage of the solution regions under all the lab's tests (the solution run, on
    the first variant), and the solution's tests on every variant (it must pass them all)."""
    import coverage

    cells = solution_cells(source_nb)
    with tempfile.TemporaryDirectory(prefix="qa-cov-") as tmp:
        files, wrappers = {}, {}
        for gid, src in cells.items():
            path = Path(tmp) / f"{gid}.py"
            path.write_text(strip_markers(src) + "\n")
            files[gid] = path
            # the same code, compiled with a file name coverage can read back
            wrappers[gid] = f"exec(compile(open({str(path)!r}).read(), {str(path)!r}, 'exec'))"
        plan = plan_for(source_nb, wrappers)
        spec = {"data_file": str(Path(tmp) / ".coverage"), "dir": tmp}
        from autograder.submission.plan import answers_of

        variants = variants or qa_variants(source_nb)
        res = run_variant(plan, answers_of(source_nb), cell_seconds, cov=spec, variant=variants[0])
        cv = coverage.Coverage(data_file=spec["data_file"], branch=True, include=[tmp + "/*"], config_file=False)
        cv.exclude(UNTESTED)
        cv.load()
        report_file = Path(tmp) / "cov.json"
        try:
            cv.json_report(outfile=str(report_file))
            data = json.loads(report_file.read_text())["files"]
        except coverage.exceptions.NoDataError:
            data = {}
        per_cell, missing, unexplained = {}, [], []
        stmts = hit = branches = taken = 0
        for gid, path in files.items():
            text = path.read_text().splitlines()
            region = _region_lines(cells[gid])
            for n in range(1, len(text) + 1):
                if re.search(UNTESTED, text[n - 1]) and not UNTESTED_WITH_REASON.search(text[n - 1]):
                    unexplained.append(f"{gid}:{n}: '# qa: untested' needs a reason: '# qa: untested -- <why>'")
            f = data.get(str(path)) or next((v for k, v in data.items() if k.endswith(path.name)), None)
            if f is None:
                per_cell[gid] = None
                missing.append(f"{gid}: never ran")
                continue
            ex = [n for n in f["executed_lines"] if n in region]
            ms = [n for n in f["missing_lines"] if n in region]
            eb = [b for b in f.get("executed_branches", []) if b[0] in region]
            mb = [b for b in f.get("missing_branches", []) if b[0] in region]
            stmts += len(ex) + len(ms)
            hit += len(ex)
            branches += len(eb) + len(mb)
            taken += len(eb)
            for n in ms:
                missing.append(f"{gid}:{n} never runs: {text[n - 1].strip()}")
            for a, b in mb:
                to = "the function exits" if b < 0 else f"line {b}"
                missing.append(f"{gid}:{a} never goes to {to}: {text[a - 1].strip()}")
            per_cell[gid] = {"statements": len(ex) + len(ms), "missing_lines": ms, "branches": len(eb) + len(mb),
                             "missing_branches": mb}
    total = stmts + branches
    never = [g for g, c in per_cell.items() if c is None]
    percent = 0.0 if never or not total else 100.0 * (hit + taken) / total
    failed = [g for g, ok in res["tests"].items() if not ok]
    tests = res["tests"]
    from autograder.submission.plan import answers_of

    for v in variants[1:]:  # the same solution, other students' hidden inputs
        other = run_variant(plan_for(source_nb, {}), answers_of(source_nb), cell_seconds, variant=v)
        failed += [f"{g} (student {v.student})" for g, ok in other["tests"].items() if not ok]
        if other["fatal"] and not res["fatal"]:
            res["fatal"] = f"{other['fatal']} (student {v.student})"
        tests = {g: ok and other["tests"].get(g, False) for g, ok in tests.items()}
    return {"percent": round(percent, 2), "statements": stmts, "branches": branches, "missing": missing,
            "unexplained": unexplained, "cells": per_cell, "solution_failed_tests": failed, "tests": tests, "fatal": res["fatal"],
            "seconds": res["seconds"]}


# ---- automatic mutants ------------------------------------------------------------------------
def _warm(source_nb) -> None:
    """Import what the lab's code imports, here, before forking (each fork then starts warm)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    import autograder.submission.runner  # noqa: F401
    import autograder.submission.sandbox  # noqa: F401  (cell_plan; it loads nbgrader: once, before the forks)

    cfg = Config()
    cfg.HistoryManager.enabled = False
    InteractiveShell.instance(config=cfg)  # the runner's shell, made once: each fork starts with a copy

    for c in source_nb.cells:
        if c.cell_type != "code":
            continue
        try:
            tree = ast.parse(strip_markers(c.source))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            for name in names:
                try:
                    __import__(name)
                except Exception:  # noqa: BLE001 - a cell's own import error shows when it runs
                    pass


def main(argv: list[str] | None = None) -> int:
    import nbformat

    from autograder.qa.mutant_runs import (HandWritten, automatic_mutants_report, load_equivalents, mutant_runs,
                                           solution_on_students)

    p = argparse.ArgumentParser(prog="python -m autograder.qa.run",
                                description="coverage and automatic mutants of one lab (JSON on stdout)")
    p.add_argument("notebook", help="the lab's nbgrader source notebook")
    p.add_argument("--qa-file", help="the lab's QA file (equivalent mutants)")
    p.add_argument("--sample", type=int, help="run this many automatic mutants (default: all)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--no-mutants", action="store_true")
    p.add_argument("--variants", type=int, default=VARIANTS,
                   help=f"students' variants of the hidden inputs to run on (default {VARIANTS})")
    p.add_argument("--students", help="comma-separated: run the solution on these students' variants of the "
                                      "course in --course (its secret) instead, and report each")
    p.add_argument("--course", help="the course root whose secret seeds the students' variants (with --students)")
    p.add_argument("--hand-written", help="a folder of the lab's hand-written mutants (*.py) to run too, on every "
                                          "variant: each must lose a point for every student")
    args = p.parse_args(argv)
    if args.variants < 1:
        p.error(f"--variants must be at least 1: got {args.variants}")
    if bool(args.students) != bool(args.course):
        p.error("--students and --course go together: the students' variants come from the course's secret")
    nb = nbformat.read(args.notebook, as_version=4)
    nb.metadata.setdefault("mlsys_grade", {}).setdefault("lab", Path(args.notebook).stem)
    with tempfile.TemporaryDirectory(prefix="qa-kit-") as kit:
        prepare_kit(nb, kit)  # the student side imports the kit the sandbox would hold
        _warm(nb)
        if args.students:
            json.dump({"students": solution_on_students(nb, Path(args.course), args.students.split(","))}, sys.stdout)
            print()
            return 0
        variants = qa_variants(nb, args.variants)
        cov = coverage_run(nb, variants=variants)
        out: dict[str, Any] = {"coverage": cov}
        if not args.no_mutants:
            eq = load_equivalents(Path(args.qa_file)) if args.qa_file else {}
            baseline = {g for g, ok in cov["tests"].items() if ok}
            out["automatic_mutants"] = automatic_mutants_report(nb, eq, baseline, args.sample,
                                                                seed=Path(args.notebook).stem, jobs=args.jobs,
                                                                variants=variants)
        if args.hand_written:
            hand = [HandWritten(p, nb) for p in sorted(Path(args.hand_written).glob("*.py"))]
            runs = mutant_runs(nb, hand, {g for g, ok in cov["tests"].items() if ok}, jobs=args.jobs,
                               variants=variants)
            out["hand_written"] = {m.name: {"bug": m.bug, "failed": sorted(g for g, ok in r["tests"].items() if not ok),
                                            "fatal": r["fatal"], "survives_on": r["survives_on"],
                                            "variants_run": r["variants_run"]}
                                   for m, r in zip(hand, runs)}
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    from autograder.qa.run import main as _main  # run as the module itself, so the pool can pickle its functions

    sys.exit(_main())
