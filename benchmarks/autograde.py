"""Autograding throughput on real nbgrader, lab 0, old design vs new (issue #12) on the same batch.

* ``new``: the judge design (test cells run in the grader's process against the sandbox over the
  plain-data channel; autograder/submission/sandbox.py, judge.py, runner.py as they are now);
* ``old``: the design before issue #12 (every cell, tests included, in the sandboxed kernel with
  an in-process guard; ``autograder/submission/sandbox.py`` and ``runner.py`` as of commit 8210a22, taken
  with ``git show`` into a scratch package and swapped into the course's nbgrader config).

Both grade the same submissions (the lab 0 solution, ``--batch`` copies) through
``autograder.course.batch.autograde``: one submission at --jobs 1 (seconds per submission), then the
batch at --jobs 1 and --jobs 2 (submissions per minute). Prints one JSON object.

    .venv/bin/python benchmarks/autograde.py [--batch 10] [--designs new,old] [--lab lab0-costs]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.course.root import Course  # noqa: E402
from autograder.course.batch import autograde  # noqa: E402
from autograder.qa.check import solution_submission  # noqa: E402

LAB = "lab0-costs"
OLD_COMMIT = "8210a22"


def old_package(tmp: Path) -> Path:
    """autograder_old/{sandbox,runner}.py from OLD_COMMIT, renamed so they run as themselves."""
    pkg = tmp / "autograder_old"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for name in ("sandbox.py", "runner.py"):
        text = subprocess.run(["git", "-C", str(ROOT), "show", f"{OLD_COMMIT}:autograder/{name}"], check=True,
                              capture_output=True, text=True).stdout
        (pkg / name).write_text(re.sub(r"\bautograder\.(sandbox|runner)\b", r"autograder_old.\1", text))
    return tmp


def course_with(n: int, tmp: Path, design: str, lab: str = LAB) -> Course:
    config = (ROOT / "labs" / "nbgrader_config.py").read_text()
    if design == "old":
        old = old_package(tmp / "old")
        line = re.search(r"^( *)from autograder\.sandbox import SandboxedExecute$", config, re.M)
        assert line, "labs/nbgrader_config.py no longer imports SandboxedExecute as expected"
        pad = line.group(1)
        config = config.replace(line.group(0), f"{pad}import sys as _sys\n{pad}_sys.path.insert(0, {str(old)!r})\n"
                                f"{pad}from autograder_old.sandbox import SandboxedExecute")
    course_root = tmp / "course"
    course_root.mkdir()
    (course_root / "nbgrader_config.py").write_text(config)
    shutil.copytree(ROOT / "labs" / "source" / lab, course_root / "source" / lab)
    course = Course(course_root)
    release = course.generate_assignment(lab)
    solved = solution_submission(course.source_notebook(lab), release)
    for i in range(n):
        dest = course.submitted_notebook(lab, f"student{i:03d}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(solved, dest)
    return course


def autograded_max(lab: str) -> float:
    """The lab's autograded maximum: its points less those of answers graded by hand."""
    nb = nbformat.read(ROOT / "labs" / "source" / lab / f"{lab}.ipynb", as_version=4)
    return sum(float(c.metadata["nbgrader"].get("points", 0)) for c in nb.cells
               if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code")


def timed(design: str, n: int, jobs: int, lab: str = LAB) -> float:
    with tempfile.TemporaryDirectory(prefix=f"bench-{design}-") as tmp:
        course = course_with(n, Path(tmp), design, lab)
        t0 = time.perf_counter()
        summary = autograde(course, lab, jobs=jobs, progress=lambda m: print(m, file=sys.stderr))
        seconds = time.perf_counter() - t0
        scores = [r["score"] for r in summary["results"]]
        want = autograded_max(lab)
        assert summary["graded"] == n and all(s == want for s in scores), (design, summary["errors"], scores, want)
        return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=10, help="submissions per batch (default 10)")
    ap.add_argument("--designs", default="new,old", help="comma-separated: new, old (default both)")
    ap.add_argument("--lab", default=LAB, help=f"the lab to grade (default {LAB})")
    args = ap.parse_args()
    designs = args.designs.split(",")
    if args.batch < 1 or not designs or any(d not in ("new", "old") for d in designs):
        ap.error(f"--batch must be >= 1 and --designs a list of new/old: got {args.batch}, {args.designs!r}")
    if not (ROOT / "labs" / "source" / args.lab).is_dir():
        ap.error(f"--lab must be a lab under labs/source: got {args.lab!r}")
    out: dict = {"lab": args.lab, "cpus": os.cpu_count(), "batch": args.batch,
                 "load_average_at_start": round(os.getloadavg()[0], 2)}
    for design in designs:
        one = timed(design, 1, 1, args.lab)
        j1 = timed(design, args.batch, 1, args.lab)
        j2 = timed(design, args.batch, 2, args.lab)
        out[design] = {"one_submission_s": round(one, 2), "batch_jobs1_s": round(j1, 2), "batch_jobs2_s": round(j2, 2),
                       "seconds_per_submission_jobs1": round(j1 / args.batch, 2),
                       "submissions_per_min_jobs1": round(60 * args.batch / j1, 1),
                       "submissions_per_min_jobs2": round(60 * args.batch / j2, 1)}
    if "new" in out and "old" in out:
        out["new_over_old_jobs1"] = round(out["new"]["batch_jobs1_s"] / out["old"]["batch_jobs1_s"], 2)
        out["new_over_old_jobs2"] = round(out["new"]["batch_jobs2_s"] / out["old"]["batch_jobs2_s"], 2)
    out["load_average_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
