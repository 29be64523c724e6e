"""An nbgrader course root (``labs/`` by default) and the way we run nbgrader's own apps on it.

Every step that nbgrader already does (generate the student version, autograde, feedback, the
gradebook database) is done by nbgrader itself, run as ``python -m nbgrader ...`` in the course
root so that the course's ``nbgrader_config.py`` applies. This module only adds what a class of
200 needs around it: checks with clear errors, a record of every submission's fate
(``grading/<lab>.json``), and bounds on time.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.submission.sandbox import die_with_parent

LAB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def lab_key(name: str) -> list[Any]:
    """Sort key of lab names in course order: lab2 before lab10 (numbers compared as numbers)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


class CourseError(ValueError):
    """Bad input to the grading CLI: says what was wrong and what is allowed."""


@dataclass
class RunResult:
    returncode: int
    output: str
    seconds: float
    timed_out: bool


class Course:
    """A course root with ``nbgrader_config.py`` and ``source/<lab>/<lab>.ipynb``."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        if not (self.root / "nbgrader_config.py").is_file():
            raise CourseError(f"{self.root} is not an nbgrader course root: it has no nbgrader_config.py "
                              "(give --course DIR, default labs/)")
        self._log_lock = threading.Lock()

    # ---- labs -------------------------------------------------------------------------
    def labs(self) -> list[str]:
        src = self.root / "source"
        return sorted((p.name for p in src.iterdir() if (p / f"{p.name}.ipynb").is_file()), key=lab_key) if src.is_dir() else []

    def check_lab(self, lab: str) -> str:
        if not isinstance(lab, str) or not LAB_NAME.match(lab):
            raise CourseError(f"lab names are letters, digits, '.', '_' and '-': got {lab!r}")
        if lab not in self.labs():
            raise CourseError(f"no lab {lab!r} in {self.root / 'source'}: labs are {', '.join(self.labs()) or 'none'}")
        return lab

    def source_notebook(self, lab: str) -> Path:
        return self.root / "source" / lab / f"{lab}.ipynb"

    def release_notebook(self, lab: str) -> Path:
        return self.root / "release" / lab / f"{lab}.ipynb"

    def submitted_notebook(self, lab: str, student: str) -> Path:
        return self.root / "submitted" / student / lab / f"{lab}.ipynb"

    def autograded_notebook(self, lab: str, student: str) -> Path:
        return self.root / "autograded" / student / lab / f"{lab}.ipynb"

    @property
    def db_url(self) -> str:
        """The gradebook's URL. nbgrader creates a new gradebook by running ``alembic``, which lives
        beside this Python: that folder is put on PATH (once) for the calls made in this process."""
        bindir = str(Path(sys.executable).parent)
        if bindir not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
        return f"sqlite:///{self.root / 'gradebook.db'}"

    # ---- running nbgrader -------------------------------------------------------------
    def nbgrader(self, *args: str, timeout: float | None = None) -> RunResult:
        """Run ``nbgrader ARGS`` in the course root, in its own process group, killed whole
        (kernels included) if it runs past ``timeout`` seconds."""
        env = dict(os.environ)
        bindir = str(Path(sys.executable).parent)
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")  # nbgrader calls `alembic`; kernels `python`
        env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "nbgrader", *args], cwd=self.root, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True, preexec_fn=die_with_parent)
        try:
            out, _ = proc.communicate(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            timed_out = True
        finally:
            try:  # kernels left behind by a crashed nbgrader share its process group
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return RunResult(proc.returncode, out or "", time.perf_counter() - t0, timed_out)

    def generate_assignment(self, lab: str) -> Path:
        """nbgrader generate_assignment: the student version in release/<lab>/ and the lab's
        cells (with hidden tests and checksums) in the gradebook."""
        self.check_lab(lab)
        res = self.nbgrader("generate_assignment", lab, "--force", timeout=600)
        if res.returncode != 0 or not self.release_notebook(lab).is_file():
            raise CourseError(f"nbgrader could not release {lab}:\n{error_lines(res.output)}")
        return self.release_notebook(lab)

    def ensure_released(self, lab: str) -> None:
        src, rel = self.source_notebook(lab), self.release_notebook(lab)
        if not rel.is_file() or rel.stat().st_mtime < src.stat().st_mtime:
            self.generate_assignment(lab)

    # ---- the grading record: every submission's fate ------------------------------------
    def log_path(self, lab: str) -> Path:
        return self.root / "grading" / f"{lab}.json"

    def read_log(self, lab: str) -> dict[str, Any]:
        path = self.log_path(lab)
        if not path.is_file():
            return {"lab": lab, "students": {}, "rejected_files": []}
        return json.loads(path.read_text())

    def update_log(self, lab: str, student: str | None = None, **fields: Any) -> None:
        """Merge ``fields`` into the record of ``student`` (or the lab's top level), atomically."""
        with self._log_lock:
            log = self.read_log(lab)
            target = log if student is None else log["students"].setdefault(student, {})
            target.update(fields)
            path = self.log_path(lab)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(log, indent=2, sort_keys=True))
            tmp.replace(path)


def error_lines(output: str, limit: int = 6) -> str:
    """The informative part of an nbgrader log: its ERROR lines and the exception lines of
    tracebacks, without the noise."""
    for line in output.splitlines():  # the sandbox's own words, when it stopped a notebook
        if "SandboxError: " in line:
            return line.split("SandboxError: ", 1)[1].strip()
    keep = []
    for line in output.splitlines():
        s = line.strip()
        tag = "| ERROR]" if "| ERROR]" in s else ("[ERROR]" if s.startswith("[ERROR]") else None)
        if tag and "Please see" not in s and "Traceback" not in s and "There was an error processing" not in s:
            keep.append(s.split(tag, 1)[1].strip())
        elif re.match(r"^[A-Za-z_.]+(Error|Exception|Exit)\b.*:", s):
            keep.append(s)
    seen: list[str] = []
    for k in keep:
        if k not in seen:
            seen.append(k)
    return "; ".join(seen[-limit:]) or (output.strip().splitlines() or ["no output"])[-1]
