"""Autograde a whole class on nbgrader, never stopping on a bad submission.

The batch is one parent (the grader) and ``--jobs`` worker processes. Each worker imports
nbgrader once and grades one submission at a time (``nbgrader autograde``'s own code, through
its API, with the course's ``nbgrader_config.py``): the student's code runs in the sandbox that
config names, a child of the worker. The parent is the only writer of the grading record
``grading/<lab>.json`` and decides every submission's fate:

* **No shared synchronisation object.** Each worker talks to the parent over its own two pipes
  (a JSON line per request and per answer), owned by the parent; nothing lives in ``/dev/shm``
  and no lock or semaphore is shared between workers (a process pool keeps its semaphores
  there, where a sandbox that shares the machine's ``/dev/shm`` could write into them and hang
  the batch). The workers' protocol file descriptors are not inheritable: the sandbox gets none.
* **A deadline per submission, kept by the parent.** A worker that has not answered within
  ``deadline`` seconds (default: the notebook limit + 60 s) is stopped and killed with its whole
  process tree (``SIGSTOP`` first, so nothing forks on, then ``SIGKILL``), replaced, and the
  submission recorded as ``error`` with the reason. A worker that dies is replaced and its
  submission recorded as ``interrupted``: the next run grades it again. Each worker is a child
  subreaper, so whatever its sandbox leaves behind stays in its tree and is killed with it.
* **Caps.** A submitted notebook over ``collect.MAX_FILE_MB`` is not graded; the autograded
  notebook's outputs are capped per submission by ``autograder.submission.steps.CapOutputs`` (in the course
  config; grades unaffected, a note says so) and an autograded notebook still over
  ``max_notebook_mb`` is recorded as an error with its size.
* **Resumable.** A submission whose record is final (``graded``, or an ``error`` of its own) and
  whose file is unchanged is kept unless ``force``; queued and interrupted ones (a killed grader
  or worker) are graded again.
* **Clean output.** One line per submission (and a progress bar on a terminal). The workers'
  stderr goes to ``grading/<lab>-workers.log`` and the parent says so when anything is in it;
  nbgrader's one known-benign SQLAlchemy warning is filtered by its exact text (``quiet_nbgrader``).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
import warnings
from collections import deque
from pathlib import Path
from typing import Any, Callable

from tqdm import tqdm

from autograder.course.root import Course, CourseError
from autograder.course.procs import descendants, kill_tree
from autograder.course.records import FINAL, MAX_NOTEBOOK_MB, digest, finish, read_score
from autograder.submission.repair import notes_file
from autograder.submission.sandbox import die_with_parent

READY_SECONDS = 300        # a worker must have loaded nbgrader within this
MAX_MESSAGE = 1 << 20      # a worker's answer line (its log is cut to 64 KiB before it is sent)


def quiet_nbgrader() -> None:
    """Filter exactly one warning: SQLAlchemy 2's ``SAWarning`` "Object of type <SubmittedX> not
    in session, add operation along 'Y.submissions' will not proceed", which nbgrader 0.9's
    gradebook raises on every autograde (it builds a submission whose backrefs autoflush before
    it adds it to the session; the row is added right after, nothing is lost). Every other
    warning, and every error, still shows."""
    try:
        from sqlalchemy.exc import SAWarning
    except ImportError:
        return
    warnings.filterwarnings("ignore", category=SAWarning,
                            message=r"Object of type <Submitted\w+> not in session, add operation along "
                                    r"'\w+\.submissions' will not proceed")


# ---- reading a submission before and after grading (in the parent) ------------------------------
class Worker:
    """One grading worker: a child process with a request pipe and an answer pipe."""

    def __init__(self, course: Course, lab: str, cell_timeout: float, notebook_timeout: float, errlog):
        env = dict(os.environ)
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        env["MLSYS_COURSE_ROOT"] = str(course.root)
        env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        cfg = json.dumps({"root": str(course.root), "lab": lab, "cell_timeout": cell_timeout, "notebook_timeout": notebook_timeout})
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.course.batch", "--worker", cfg],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errlog, cwd=course.root,
                                     env=env, start_new_session=True, preexec_fn=die_with_parent)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.buf = b""
        self.ready = False
        self.born = time.monotonic()
        self.student: str | None = None
        self.started = 0.0
        self.tree: dict[int, int] = {}
        self.dead = False

    def send(self, student: str) -> None:
        self.student, self.started = student, time.monotonic()
        self.proc.stdin.write(json.dumps({"student": student}).encode() + b"\n")
        self.proc.stdin.flush()

    def read(self) -> list[dict]:
        """Answers that arrived (non-blocking); marks the worker dead on EOF or a garbled answer."""
        msgs = []
        try:
            while True:
                chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
                if not chunk:
                    self.dead = True
                    break
                self.buf += chunk
                if len(self.buf) > MAX_MESSAGE:
                    self.dead = True
                    break
        except BlockingIOError:
            pass
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            try:
                msgs.append(json.loads(line))
            except ValueError:
                self.dead = True
        return msgs

    def kill(self) -> None:
        kill_tree(self.proc.pid, self.tree)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass


def autograde(course: Course, lab: str, students: list[str] | None = None, jobs: int = 1,
              cell_timeout: float = 60, notebook_timeout: float | None = None,
              progress: Callable[[str], None] = print, force: bool = False,
              bar: bool = False, deadline: float | None = None,
              max_notebook_mb: float = MAX_NOTEBOOK_MB) -> dict[str, Any]:
    """Autograde the collected submissions of ``lab`` (or only ``students``) with ``jobs``
    workers. Resumable: a submission whose record is final (graded, or an error of its own) and
    whose file is unchanged is not graded again unless ``force``; one that was being graded when
    the grader or its worker was killed is. ``deadline``: seconds a worker may take over one
    submission before the parent kills it (default ``notebook_timeout`` + 60).
    Returns {"graded": n, "errors": [...], "results": [...], ...}."""
    course.check_lab(lab)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise CourseError(f"--jobs must be a positive integer: got {jobs!r}")
    for name, value in (("--timeout", cell_timeout), ("--notebook-timeout", notebook_timeout),
                        ("--deadline", deadline), ("max_notebook_mb", max_notebook_mb)):
        if value is None and name in ("--notebook-timeout", "--deadline"):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
            raise CourseError(f"{name} must be a positive number of seconds: got {value!r}" if name.startswith("--")
                              else f"{name} must be a positive number: got {value!r}")
    notebook_timeout = notebook_timeout or max(120.0, 10 * cell_timeout)
    deadline = deadline or notebook_timeout + 60
    quiet_nbgrader()
    course.ensure_released(lab)
    sub_root = course.root / "submitted"
    all_students = sorted(p.parent.name for p in sub_root.glob(f"*/{lab}") if p.is_dir()) if sub_root.is_dir() else []
    if students:
        unknown = [s for s in students if s not in all_students]
        if unknown:
            raise CourseError(f"no submission of {lab} for {', '.join(unknown)}: collected are "
                              f"{', '.join(all_students) or 'none'}")
        all_students = sorted(set(students))
    if not all_students:
        raise CourseError(f"no submissions of {lab} in {sub_root}: run `mlsys-grade collect {lab} SOURCE` first")
    log = course.read_log(lab)["students"]
    done = [] if force else [s for s in all_students if log.get(s, {}).get("status") in FINAL
                             and log[s].get("sha256") == digest(course.submitted_notebook(lab, s))]
    if done:
        progress(f"{len(done)} submissions already graded and unchanged: kept (--force grades them again)")
    results: list[dict[str, Any]] = [{"student": s, **log[s]} for s in done]
    todo = [s for s in all_students if s not in done]
    t0 = time.perf_counter()
    # the bar only on a terminal: tqdm makes a multiprocessing lock (a semaphore in /dev/shm) when it starts
    meter = tqdm(total=len(all_students), initial=len(done), desc=f"autograde {lab}", unit="nb", file=sys.stderr,
                 mininterval=1.0) if bar else None
    say = meter.write if meter is not None else progress
    for s in todo:
        course.update_log(lab, s, status="queued", reason=None)

    def record(r: dict[str, Any]) -> None:
        results.append(r)
        if meter is not None:
            meter.update(1)
        msg = f"[{len(results)}/{len(all_students)}] {r['student']}: {r['score']:g}/{r['max_score']:g} {r['status']}"
        detail = "; ".join(([r["reason"]] if r.get("reason") else []) + r.get("notes", []))
        say(msg + (f" ({detail})" if detail else ""))

    def fail(s: str, status: str, reason: str) -> None:
        try:
            max_score = read_score(course, lab, s)[1]
        except Exception:  # noqa: BLE001 - the record matters more than its max score
            max_score = 0.0
        r = {"status": status, "score": 0.0, "max_score": max_score, "notes": [], "cells": {}, "reason": reason,
             "sha256": digest(course.submitted_notebook(lab, s))}
        course.update_log(lab, s, **r)
        record(r | {"student": s})

    errlog_path = course.root / "grading" / f"{lab}-workers.log"
    errlog_path.parent.mkdir(parents=True, exist_ok=True)
    log_start = errlog_path.stat().st_size if errlog_path.is_file() else 0
    queue = deque(todo)
    tries = {s: 0 for s in todo}
    workers: list[Worker] = []
    sel = selectors.DefaultSelector()
    failed_starts = 0
    with open(errlog_path, "ab") as errlog:
        def spawn() -> None:
            w = Worker(course, lab, cell_timeout, notebook_timeout, errlog)
            sel.register(w.proc.stdout, selectors.EVENT_READ, w)
            workers.append(w)

        def retire(w: Worker) -> None:
            sel.unregister(w.proc.stdout)
            w.kill()
            workers.remove(w)

        try:
            for _ in range(min(jobs, len(queue))):
                spawn()
            while workers:
                for key, _ in sel.select(timeout=0.5):
                    w: Worker = key.data
                    for msg in w.read():
                        if msg.get("ready"):
                            w.ready, failed_starts = True, 0
                        elif msg.get("student") == w.student:
                            s, w.student = w.student, None
                            if not msg.get("ok") and "database is locked" in str(msg.get("output")) and tries[s] < 3:
                                tries[s] += 1  # the gradebook was busy (the grader's trouble, not the student's)
                                queue.append(s)
                                continue
                            try:
                                r = finish(course, lab, s, bool(msg.get("ok")), str(msg.get("output", "")),
                                           float(msg.get("seconds", 0)), cell_timeout, max_notebook_mb)
                            except Exception as exc:  # noqa: BLE001 - the grader's own failure: record it, go on
                                fail(s, "error", f"grader failure: {type(exc).__name__}: {exc}")
                                continue
                            record(r)
                now = time.monotonic()
                for w in list(workers):
                    if w.student is not None:
                        w.tree.update(descendants(w.proc.pid))  # so an orphaned sandbox can be found and killed
                    if w.dead or w.proc.poll() is not None:
                        s, code = w.student, w.proc.poll()
                        if code is None and w.dead:  # EOF can come before the exit status: wait for it
                            try:
                                code = w.proc.wait(timeout=2)
                            except subprocess.TimeoutExpired:  # alive: its answer was garbled or oversized
                                pass
                        retire(w)
                        if not w.ready:
                            failed_starts += 1
                        if s is not None:
                            how = ("a garbled or oversized answer" if code is None else
                                   f"signal {-code}" if code < 0 else f"exit status {code}")
                            fail(s, "interrupted", f"the grading worker died ({how}) while grading it: run autograde "
                                                   "again to grade this submission")
                    elif w.student is not None and now - w.started > deadline:
                        s = w.student
                        retire(w)
                        fail(s, "error", f"grading took longer than the deadline of {deadline:g} s: its worker was "
                                         "killed with its whole process tree")
                    elif not w.ready and now - w.born > READY_SECONDS:
                        retire(w)
                        failed_starts += 1
                if failed_starts >= 3:
                    tail = _tail(errlog_path, log_start)
                    while queue:
                        fail(queue.popleft(), "error", "the grading worker could not start"
                                                       + (f": {tail}" if tail else ""))
                while queue and len(workers) < min(jobs, len(queue) + sum(w.student is not None for w in workers)):
                    spawn()
                for w in workers:
                    if w.ready and w.student is None and queue:
                        w.send(queue.popleft())
                for w in [w for w in workers if w.ready and w.student is None and not queue]:
                    retire(w)
        finally:
            for w in list(workers):
                retire(w)
            sel.close()
    if meter is not None:
        meter.close()
    errors = [{"student": r["student"], "reason": r["reason"]} for r in results if r["status"] != "graded"]
    summary = {"lab": lab, "submissions": len(results), "graded": len(results) - len(errors), "errors": errors,
               "kept": len(done), "seconds": round(time.perf_counter() - t0, 2),
               "results": sorted(results, key=lambda r: r["student"])}
    progress(f"{lab}: {summary['graded']} graded, {len(errors)} errors, in {summary['seconds']:.1f} s"
             + (f" ({len(done)} kept from before)" if done else ""))
    for e in errors:
        progress(f"  error {e['student']}: {e['reason']}")
    extra = errlog_path.stat().st_size - log_start if errlog_path.is_file() else 0
    if extra:
        progress(f"  the workers wrote {extra} bytes of messages to {errlog_path}")
    return summary


def _tail(path: Path, start: int) -> str:
    with open(path, "rb") as f:
        f.seek(start)
        lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
    return " | ".join(lines[-2:])[:500]


# ---- in a worker process: nbgrader is imported once, then grades one submission after another ---
def _worker_main(cfg: dict) -> None:
    """Read ``{"student": ID}`` lines, answer ``{"student", "ok", "output", "seconds"}`` lines.
    The protocol's pipes move to private, non-inheritable descriptors; fd 0 becomes /dev/null
    and fd 1 goes to the log (stderr), so nothing nbgrader or a kernel prints can garble it."""
    requests = os.fdopen(os.dup(0), "rb")
    answers = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: orphans stay in our tree
    except OSError:
        pass
    quiet_nbgrader()
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    root = cfg["root"]
    os.chdir(root)
    conf = PyFileConfigLoader("nbgrader_config.py", path=root).load_config()
    t = max(1, round(cfg["cell_timeout"]))
    conf.Execute.timeout = t
    conf.SandboxedExecute.timeout = t
    conf.SandboxedExecute.notebook_timeout = max(1, round(cfg["notebook_timeout"]))
    conf.CourseDirectory.root = root
    api = NbGraderAPI(coursedir=CourseDirectory(config=conf), config=conf)

    def say(msg: dict) -> None:
        answers.write(json.dumps(msg).encode() + b"\n")
        answers.flush()

    say({"ready": True})
    for line in requests:
        req = json.loads(line)
        student = req["student"]
        t0 = time.perf_counter()
        out, ok = "", False
        notes_file(root, cfg["lab"], student).unlink(missing_ok=True)  # no note of an earlier run survives
        try:
            for attempt in range(3):
                res = api.autograde(cfg["lab"], student, force=True, create=True)
                out = (res.get("log") or "") + (res.get("error") or "")
                ok = bool(res["success"])
                if ok or "database is locked" not in out:
                    break
                time.sleep(0.5 * (attempt + 1))
        except Exception as exc:  # noqa: BLE001 - nbgrader's own failure, reported as this submission's
            out = f"{type(exc).__name__}: {exc}"
        finally:
            _reap_leftovers()
        if len(out) > 1 << 16:
            out = out[:1 << 15] + "\n...\n" + out[-(1 << 15):]
        say({"student": student, "ok": ok, "output": out, "seconds": time.perf_counter() - t0})


def _reap_leftovers() -> None:
    """After a submission: kill whatever its sandbox left behind below this worker, reap zombies."""
    me = os.getpid()
    for pid in descendants(me):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _worker_main(json.loads(sys.argv[2]))
