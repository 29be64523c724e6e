"""Autograding throughput on real nbgrader, lab 0: one submission, then a batch at --jobs 1 and
--jobs 2 through mlsys-grade (sandboxed), and the same batch through plain `nbgrader autograde`
(stock Execute, no isolation, one process) for the cost of isolation. Prints one JSON object.

    .venv/bin/python benchmarks/autograde.py [--batch 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.course import Course  # noqa: E402
from autograder.grade import autograde  # noqa: E402
from autograder.qa import solution_submission  # noqa: E402

LAB = "lab0-costs"


def course_with(n: int, tmp: Path) -> Course:
    shutil.copy(ROOT / "labs" / "nbgrader_config.py", tmp)
    shutil.copytree(ROOT / "labs" / "source" / LAB, tmp / "source" / LAB)
    course = Course(tmp)
    release = course.generate_assignment(LAB)
    solved = solution_submission(course.source_notebook(LAB), release)
    for i in range(n):
        dest = course.submitted_notebook(LAB, f"student{i:03d}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(solved, dest)
    return course


def ours(n: int, jobs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        course = course_with(n, Path(tmp))
        t0 = time.perf_counter()
        summary = autograde(course, LAB, jobs=jobs, progress=lambda m: print(m, file=sys.stderr))
        assert summary["graded"] == n and all(r["score"] == 12 for r in summary["results"]), summary["errors"]
        return time.perf_counter() - t0


def plain(n: int) -> float:
    """nbgrader's own pipeline (MLSYS_GRADE_PLAIN=1 keeps the stock preprocessors), all students in one run."""
    with tempfile.TemporaryDirectory() as tmp:
        course = course_with(n, Path(tmp))
        env = dict(os.environ, MLSYS_GRADE_PLAIN="1",
                   PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", LAB], cwd=course.root, env=env,
                             capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        assert res.returncode == 0, res.stdout[-2000:]
        return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=20)
    args = ap.parse_args()
    one = ours(1, 1)
    j1 = ours(args.batch, 1)
    j2 = ours(args.batch, 2)
    base = plain(args.batch)
    print(json.dumps({
        "lab": LAB, "cpus": os.cpu_count(), "one_submission_s": round(one, 2), "batch": args.batch,
        "batch_jobs1_s": round(j1, 2), "batch_jobs2_s": round(j2, 2),
        "submissions_per_min_jobs1": round(60 * args.batch / j1, 1),
        "submissions_per_min_jobs2": round(60 * args.batch / j2, 1),
        "plain_nbgrader_batch_s": round(base, 2),
        "isolation_overhead_ratio_jobs1": round(j1 / base, 2),
    }, indent=2))


if __name__ == "__main__":
    main()
