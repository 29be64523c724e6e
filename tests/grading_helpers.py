"""What the grading tests (hostile corpus, class-sized batch) share: a scratch lab-0 course,
the `mlsys-grade` command, and notebooks with one solution cell changed."""

from __future__ import annotations

import atexit
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

from autograder.qa.check import solution_submission

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab0-costs"
BIN = Path(sys.executable).parent
FULL = 14.0  # lab 0's autograded maximum (its 2-point design answer is graded by hand)
MAX = 16.0  # with the answer graded by hand


def grade(*args: str, course: Path, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "mlsys-grade"), *args, "--course", str(course)], capture_output=True, text=True,
                          timeout=timeout)


_RELEASED: list[Path] = []  # one released lab-0 course per test process, copied for each test that needs one


def new_course(root: Path) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    """A lab-0 course in ``root``, released: (the student version, the solution as a submission).
    nbgrader releases lab 0 once per test process; each course is a copy of that one (its own
    gradebook, its own secret)."""
    if not _RELEASED:
        template = Path(tempfile.mkdtemp(prefix="lab0-released-"))
        atexit.register(shutil.rmtree, template, True)
        shutil.copy(ROOT / "labs" / "nbgrader_config.py", template)
        shutil.copytree(ROOT / "labs" / "source" / LAB, template / "source" / LAB)
        res = grade("release", LAB, course=template)
        assert res.returncode == 0, res.stderr
        _RELEASED.append(template)
    shutil.copytree(_RELEASED[0], root, dirs_exist_ok=True)
    secret = root / "grading" / "secret"
    if secret.exists():
        secret.unlink()  # each course its own (made on first use)
    release = nbformat.read(root / "release" / LAB / f"{LAB}.ipynb", as_version=4)
    return release, solution_submission(root / "source" / LAB / f"{LAB}.ipynb", root / "release" / LAB / f"{LAB}.ipynb")


def cell(nb, gid: str, source: str | None = None, prepend: str = ""):
    """A copy of nb with solution cell ``gid`` replaced (or ``prepend`` put before its code)."""
    nb = nbformat.from_dict(nb)
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == gid:
            c.source = prepend + (c.source if source is None else source)
    return nb
