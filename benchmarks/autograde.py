"""Autograding throughput on real nbgrader: one lab-0 submission, then a 20-submission batch at
--jobs 1 and --jobs 2. Prints one JSON object.

    .venv/bin/python benchmarks/autograde.py [--batch 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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


def timed(n: int, jobs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        course = course_with(n, Path(tmp))
        t0 = time.perf_counter()
        summary = autograde(course, LAB, jobs=jobs, progress=lambda m: print(m, file=sys.stderr))
        assert summary["graded"] == n, summary["errors"]
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=20)
    args = ap.parse_args()
    one = timed(1, 1)
    j1 = timed(args.batch, 1)
    j2 = timed(args.batch, 2)
    print(json.dumps({
        "lab": LAB, "cpus": os.cpu_count(), "one_submission_s": round(one, 2), "batch": args.batch,
        "batch_jobs1_s": round(j1, 2), "batch_jobs2_s": round(j2, 2),
        "submissions_per_min_jobs1": round(60 * args.batch / j1, 1),
        "submissions_per_min_jobs2": round(60 * args.batch / j2, 1),
        "speedup_jobs2": round(j1 / j2, 2),
    }, indent=2))


if __name__ == "__main__":
    main()
