"""The batch: a class-sized run of lab 0 at --jobs 2 in which a worker and then the grader are
killed part way; a re-run grades only what was missing and every submission has its honest score."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from autograder.qa import apply_mutant, load_mutant, solution_submission

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab0-costs"
BIN = Path(sys.executable).parent
FULL = 12.0


def grade(*args: str, course: Path, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "mlsys-grade"), *args, "--course", str(course)], capture_output=True, text=True,
                          timeout=timeout)


def new_course(root: Path):
    shutil.copy(ROOT / "labs" / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "labs" / "source" / LAB, root / "source" / LAB)
    res = grade("release", LAB, course=root)
    assert res.returncode == 0, res.stderr
    release = nbformat.read(root / "release" / LAB / f"{LAB}.ipynb", as_version=4)
    return release, solution_submission(root / "source" / LAB / f"{LAB}.ipynb", root / "release" / LAB / f"{LAB}.ipynb")


def cell(nb, gid: str, source: str | None = None, prepend: str = ""):
    nb = nbformat.from_dict(nb)
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == gid:
            c.source = prepend + (c.source if source is None else source)
    return nb


HONEST = {"solution": FULL, "stub": 0.0, "no-biases": 6.0, "kv-only-keys": 7.0}


def test_200_submissions_survive_a_killed_worker_and_a_killed_grader(tmp_path):
    import psutil

    course = tmp_path / "class"
    course.mkdir()
    release, solved = new_course(course)
    kinds = {
        "solution": solved, "stub": release,
        "no-biases": apply_mutant(solved, "m", load_mutant(ROOT / "autograder/mutants" / LAB / "no_biases.py")[1]),
        "kv-only-keys": apply_mutant(solved, "m", load_mutant(ROOT / "autograder/mutants" / LAB / "kv_only_keys.py")[1]),
        "stub+transformer": cell(release, "param_count", "get_ipython().input_transformers_cleanup.append(\n"
                                 "    lambda lines: [l for l in lines if 'assert' not in l])\n"),
        "stub+forged": cell(release, "param_count", "import os\nos.write(1, b'MLSYS-RESULT x {}\\n')\n"),
    }
    honest = HONEST | {"stub+transformer": 0.0, "stub+forged": 0.0}
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    names = list(kinds)
    expected = {}
    for i in range(200):
        kind = names[i % len(names)]
        (inbox / f"s{i:03d}.ipynb").write_text(nbformat.writes(kinds[kind]))
        expected[f"s{i:03d}"] = honest[kind]
    assert grade("collect", LAB, str(inbox), course=course).returncode == 0
    log_path = course / "grading" / f"{LAB}.json"

    def graded() -> int:
        try:
            return sum(1 for r in json.loads(log_path.read_text())["students"].values()
                       if r.get("status") in ("graded", "error", "interrupted"))
        except (OSError, ValueError):
            return 0

    with open(tmp_path / "grader.log", "w") as log:  # a file, not a pipe: nothing can fill up and block
        proc = subprocess.Popen([str(BIN / "mlsys-grade"), "autograde", LAB, "--jobs", "2", "--timeout", "10",
                                 "--course", str(course)], stdout=log, stderr=subprocess.STDOUT, text=True)
        killed_worker = killed_grader = False
        deadline = time.time() + 1500
        while proc.poll() is None and time.time() < deadline:
            time.sleep(0.5)
            n = graded()
            if not killed_worker and n >= 15:
                workers = [c for c in psutil.Process(proc.pid).children() if "spawn_main" in " ".join(c.cmdline())]
                if workers:
                    workers[0].kill()
                    killed_worker = True
            if killed_worker and not killed_grader and n >= 40:
                proc.kill()
                killed_grader = True
        proc.kill()
        proc.wait()
    out = (tmp_path / "grader.log").read_text()
    assert killed_worker and killed_grader, out[-3000:]
    before = json.loads(log_path.read_text())["students"]
    assert any(r.get("status") == "interrupted" for r in before.values()), "the killed worker's submission"
    assert sum(1 for r in before.values() if r.get("status") in ("graded", "error")) < 200

    res = grade("autograde", LAB, "--jobs", "2", "--timeout", "10", "--json", course=course)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads(res.stdout)
    assert summary["submissions"] == 200 and 0 < summary["kept"] < 200
    assert not summary["errors"], summary["errors"][:5]
    scores = {r["student"]: r["score"] for r in summary["results"]}
    assert scores == expected
    res = grade("export", "--to", str(tmp_path / "grades.csv"), course=course)
    lines = (tmp_path / "grades.csv").read_text().splitlines()
    assert len(lines) == 201
