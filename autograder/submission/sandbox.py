"""Grade one submission: student code in a sandbox, tests in the trusted judge (issue #12).

``SandboxedExecute`` takes the place of nbgrader's ``Execute`` in ``nbgrader autograde`` (the
course's ``nbgrader_config.py`` sets this up), so nbgrader still restores the instructor's
cells, saves the grades to its gradebook and makes the feedback. The cells run in notebook order:

* solution (student) cells run in the SANDBOX, one process per submission
  (``autograder.submission.runner``), which holds nothing secret;
* locked (and checker) cells run in the sandbox, for the student code that uses their helpers,
  and in the JUDGE (``autograder.submission.judge``), here in the grader's process, whose copy is the only
  one a test sees (``judge: false`` cells: the sandbox only);
* test cells run in the judge. Test and locked code is taken from the instructor's SOURCE
  notebook by grade id (never from the submission). The judge reads only the lab's answers from
  the sandbox (``answers_of``), over ``autograder.submission.channel``: data, never code.

The sandbox (Linux, util-linux ``unshare``):

* new mount, PID, network, IPC and UTS namespaces (plus a user namespace when the grader is not
  root); its file system is built from nothing (``autograder.submission.sandbox_root``): a fresh tmpfs root
  holding the interpreter and the environment, ``/usr``, a minimal ``/etc`` and ``/dev``, its own
  ``/proc``, the lab's filtered ``mlsys_kit`` (``autograder.submission.kit``: the reference and
  whatever imports it are absent) and the runner's files (the runner and the channel's codec), all read-only; a private ``/tmp``
  (the working folder, HOME, TMPDIR: the notebook's data files only) and ``/dev/shm``; nothing
  else of the machine (no course folder, checkout, home folder, grader file or mutant); loopback
  network only; SysV IPC objects, POSIX message queues and the host name die with it;
* student code runs as uid/gid 65534 in a nested user namespace mapped to a non-root uid, with
  no capabilities, and inherits no file descriptor but its end of the channel (0-2 are
  /dev/null);
* limits: CPU seconds, address space, processes (a pids cgroup when the grader is root), file
  size, per-cell wall time (in the sandbox, and again by the parent), a per-request time limit,
  a per-submission deadline after which the parent kills the sandbox's whole PID namespace;
  output per cell, per submission, and MIME keys per output are capped here, on the trusted side;
* names carry no secret: the working folder is ``/tmp/submission``, the cgroup name is random,
  the environment holds limits and the channel's descriptor number only.

Notes (what was found, in words) go to ``.mlsys-grade.json`` beside the autograded notebook, out
of the sandbox's reach, and ``mlsys-grade`` adds them to the grading record; the reference check
(``autograder.submission.reference_check``) is static analysis done here.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from traitlets import Bool, Integer, List, Unicode

from nbgrader.preprocessors import NbGraderPreprocessor

from autograder.submission import channel
from autograder.submission.differential import Variant, course_secret
from autograder.submission.judge import Judge, SandboxLost, Session
from autograder.submission.plan import answers_of, cell_plan, drive
from autograder.submission.kit import kit_dir, kit_files
from autograder.submission.sandbox_root import STUDENT_UID, WORK

FLAGS_FILE = ".mlsys-grade.json"
REPO = Path(__file__).resolve().parents[2]
MIME_KEYS = 8
OUTPUTS_PER_CELL = 20
STARTUP_SECONDS = 120


@functools.lru_cache(maxsize=1)
def isolation_available() -> bool:
    """Whether the namespaces the sandbox needs can be made here."""
    if not sys.platform.startswith("linux") or not shutil.which("unshare"):
        return False
    res = subprocess.run(_unshare_prefix() + ["true"], capture_output=True, timeout=30)
    return res.returncode == 0


def _unshare_prefix() -> list[str]:
    user = [] if os.getuid() == 0 else ["--user", "--map-root-user"]
    return ["unshare", *user, "--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--mount-proc", "--kill-child"]


class SandboxError(RuntimeError):
    """The notebook could not be graded to the end: the reason, in words."""


class SandboxedExecute(NbGraderPreprocessor):
    """nbgrader's Execute, split: student cells sandboxed, test cells judged (module docstring)."""

    timeout = Integer(60, help="wall seconds one cell (or one request of a test) may run").tag(config=True)
    notebook_timeout = Integer(600, help="wall seconds the whole submission may run").tag(config=True)
    cpu_seconds = Integer(600, help="CPU seconds for the sandbox").tag(config=True)
    memory_mb = Integer(6144, help="address space of a sandbox process, MiB").tag(config=True)
    max_processes = Integer(64, help="processes the sandbox may start").tag(config=True)
    max_file_mb = Integer(64, help="largest file the sandbox may write, MiB").tag(config=True)
    max_output_kb = Integer(1024, help="output kept per cell, KiB").tag(config=True)
    max_total_output_kb = Integer(4096, help="output kept per submission, KiB").tag(config=True)
    max_channel_mb = Integer(512, help="bytes the sandbox may send in all, MiB").tag(config=True)
    isolate = Bool(True, help="use namespaces (Linux); off: limits only, and a note says so").tag(config=True)
    reference_modules = List(Unicode(), help="modules whose use by student code is flagged").tag(config=True)

    def preprocess(self, nb, resources):
        import nbformat

        from autograder.submission.reference_check import check_submission

        workdir = Path(resources.get("metadata", {}).get("path") or ".").resolve()
        course_root = Path(os.environ.get("MLSYS_COURSE_ROOT") or Path.cwd()).resolve()
        info = resources.get("nbgrader", {})
        source = course_root / "source" / info.get("assignment", "") / f"{info.get('notebook', '')}.ipynb"
        if not source.is_file():
            raise SandboxError(f"the source notebook {source} is missing: the judge takes the test cells from it")
        source_nb = nbformat.read(source, as_version=4)
        declared = source_nb.metadata.get("mlsys_grade", {})
        reference = list(self.reference_modules) + list(declared.get("reference", []))
        plan = cell_plan(nb, source_nb)
        notes = list(nb.metadata.pop("mlsys_grade_flags", []))
        lab_code = [c.source for c in source_nb.cells if c.cell_type == "code"]
        notes += check_submission([(c.gid, c.code) for c in plan if c.kind == "student"], reference, lab_code)
        variant = Variant(course_secret(course_root), info.get("assignment", ""), info.get("student", ""))
        outputs, more = self.grade(plan, answers_of(source_nb), workdir, course_root, variant, reference)
        notes += more
        fatal = outputs.pop("fatal", None)
        for i, outs in outputs.items():
            nb.cells[i].outputs = [nbformat.from_dict(o) for o in outs]
            nb.cells[i].execution_count = None
        (workdir / FLAGS_FILE).write_text(json.dumps({"flags": notes, "fatal": fatal}))
        if fatal:
            raise SandboxError(fatal)
        return nb, resources

    # ---- one submission ---------------------------------------------------------------------
    def grade(self, plan, answers: list[str], workdir: Path, course_root: Path, variant: Variant | None = None,
              reference=()) -> tuple[dict, list[str]]:
        notes: list[str] = []
        isolate = self.isolate and isolation_available()
        try:  # the kit the sandbox holds: without the lab's reference and what imports it
            kit = {"path": str(kit_dir()), "files": kit_files(reference)} if isolate else None
        except (ImportError, ValueError) as exc:
            raise SandboxError(f"the sandbox's copy of mlsys_kit cannot be made: {exc}") from exc
        if self.isolate and not isolate:
            notes.append("isolation unavailable on this machine: the notebook ran with limits only")
        if isolate and any(course_root == p or course_root in p.parents for p in (Path(sys.prefix).resolve(), REPO / "mlsys_kit")):
            raise SandboxError(f"the course folder {course_root} contains the Python environment or mlsys_kit, "
                               "which the sandbox must hide with it: keep the course in its own folder")
        data = [str(p.relative_to(workdir)) for p in workdir.rglob("*")
                if p.is_file() and p.suffix != ".ipynb" and p.name != FLAGS_FILE]
        mine, theirs = channel.socketpair()
        err = tempfile.TemporaryFile()
        host_work = None if isolate else Path(tempfile.mkdtemp(prefix="mlsys-sbx-"))
        cgroup = _pids_cgroup(self.max_processes) if isolate else None
        cfg = {"course_root": str(course_root), "workdir": str(workdir), "data": data, "isolate": isolate,
               "work": WORK if isolate else str(host_work), "repo": str(REPO), "root": os.getuid() == 0,
               "kit": kit}
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "OPENBLAS_CORETYPE", "TZ")}
        env.update(MPLBACKEND="Agg", HOME=cfg["work"], TMPDIR=cfg["work"], IPYTHONDIR=cfg["work"] + "/.ipython",
                   PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1", PYTHONHASHSEED="0", PYTHONPATH=str(REPO),
                   MLSYS_CHANNEL_FD=str(theirs.fileno()), MLSYS_CELL_SECONDS=str(self.timeout),
                   MLSYS_REQUEST_SECONDS=str(self.timeout), MLSYS_OUTPUT_BYTES=str(self.max_output_kb * 1024))
        setup = [sys.executable, "-m", "autograder.submission.sandbox_root", "-"]  # the config on stdin: argv (the
        # sandbox's /proc/1/cmdline, readable inside) names nothing
        cmd = _unshare_prefix() + setup if isolate else setup
        limits = Limits(self.cpu_seconds, self.memory_mb, self.max_processes, self.max_file_mb, cgroup)
        deadline = time.monotonic() + self.notebook_timeout
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err,
                                cwd="/", env=env, start_new_session=True, pass_fds=(theirs.fileno(),),
                                preexec_fn=limits.apply)
        theirs.close()
        for send in (lambda: proc.stdin.write(json.dumps(cfg).encode()), proc.stdin.close):
            try:
                send()
            except OSError:
                pass  # it died at once: the session below reports it
        session = Session(mine, request_seconds=self.timeout, grace=max(5.0, self.timeout / 2), deadline=deadline,
                          max_total=self.max_channel_mb << 20)
        judge = Judge(session, test_seconds=max(self.timeout, 1) * 10, answers=answers, variant=variant)
        outputs: dict = {}
        budget = [self.max_total_output_kb * 1024]
        try:
            session.wait_ready(STARTUP_SECONDS)
            for cell, outs in drive(plan, session, judge, self.timeout):
                outputs[cell.index] = outs if cell.kind == "test" else \
                    clean_outputs(outs, self.max_output_kb * 1024, budget, notes)
        except SandboxLost as exc:
            tail = _tail(err)
            outputs["fatal"] = str(exc) + (f": {tail}" if tail and "died" in str(exc) else "")
        finally:
            mine.close()
            _stop(proc)
            _remove_cgroup(cgroup)
            err.close()
            if host_work is not None:
                shutil.rmtree(host_work, ignore_errors=True)
        notes += judge.notes
        if budget[0] < 0:
            notes.append(f"the notebook printed more than {self.max_total_output_kb} KiB in all (truncated)")
        return outputs, notes


def _stop(proc: subprocess.Popen) -> None:
    """Kill the sandbox's whole process tree: the launcher's group, whose PID-namespace init
    takes every process of the namespace with it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass


def _tail(err) -> str:
    try:
        err.seek(0)
        lines = [t for t in err.read()[-4000:].decode(errors="replace").strip().splitlines() if "Warning" not in t]
    except OSError:
        return ""
    return " | ".join(lines[-2:])[:400]


def clean_outputs(outs, per_cell: int, budget: list[int], notes: list[str]) -> list[dict]:
    """The sandbox's outputs for one cell, checked and rebuilt: known types and fields only, text
    capped per cell and per submission, at most ``MIME_KEYS`` text MIME types per output."""
    clean: list[dict] = []
    for o in outs[:OUTPUTS_PER_CELL] if type(outs) is list else []:
        if type(o) is not dict:
            continue
        kind = o.get("output_type")
        if kind == "stream" and o.get("name") in ("stdout", "stderr") and type(o.get("text")) is str:
            text = _take(o["text"], per_cell, budget)
            if (len(o["text"]) > per_cell or "[output truncated" in o["text"]) and not any("printed more" in n for n in notes):
                notes.append(f"a cell printed more than the output limit of {per_cell >> 10} KiB (truncated)")
            clean.append({"output_type": "stream", "name": o["name"], "text": text})
        elif kind == "display_data" and type(o.get("data")) is dict:
            data = {}
            for k, v in list(o["data"].items())[:MIME_KEYS]:
                if type(k) is str and type(v) is str and len(k) <= 100 and "/" in k:
                    data[k] = _take(v, per_cell, budget)
            if len(o["data"]) > MIME_KEYS and "an output had more than" not in " ".join(notes):
                notes.append(f"an output had more than {MIME_KEYS} MIME types (the rest dropped)")
            if data:
                clean.append({"output_type": "display_data", "data": data, "metadata": {}})
        elif kind == "error":
            tb = o.get("traceback")
            tb = [_take(t, 2000, budget) for t in tb[:20] if type(t) is str] if type(tb) is list else []
            clean.append({"output_type": "error", "ename": str(o.get("ename"))[:200],
                          "evalue": _take(str(o.get("evalue")), 2000, budget), "traceback": tb})
    return clean


def _take(text: str, limit: int, budget: list[int]) -> str:
    keep = max(0, min(limit, budget[0], len(text)))
    budget[0] -= len(text)
    return text if keep == len(text) else text[:keep] + f"\n[output truncated: {len(text)} characters]\n"


class Limits:
    """rlimits (and the pids cgroup, where we may make one) set in the child before it execs."""

    def __init__(self, cpu: int, memory_mb: int, nproc: int, file_mb: int, cgroup: Path | None):
        self.cpu, self.memory, self.nproc, self.fsize, self.cgroup = cpu, memory_mb << 20, nproc, file_mb << 20, cgroup
        uid = STUDENT_UID if os.getuid() == 0 else os.getuid()
        # RLIMIT_NPROC counts the user's processes: those running now plus nproc
        self.nproc_now = sum(1 for p in Path("/proc").iterdir() if p.name.isdigit() and _owner(p) == uid)

    def apply(self) -> None:
        die_with_parent()  # a killed grader (worker) takes its sandbox with it: the launcher is the PID namespace's parent
        for res, value in ((resource.RLIMIT_CPU, self.cpu), (resource.RLIMIT_AS, self.memory),
                           (resource.RLIMIT_FSIZE, self.fsize), (resource.RLIMIT_CORE, 0),
                           (resource.RLIMIT_NPROC, self.nproc_now + self.nproc + 8)):
            resource.setrlimit(res, (value, value))
        if self.cgroup is not None:
            (self.cgroup / "cgroup.procs").write_text(str(os.getpid()))


def die_with_parent() -> None:
    """In the child: be killed when the grader dies (a killed grader leaves no orphan writing
    to the gradebook while it is run again)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _owner(p: Path) -> int:
    try:
        return p.stat().st_uid
    except OSError:
        return -1


def _pids_cgroup(nproc: int) -> Path | None:
    """A cgroup-v1 pids group capping the sandbox's processes, where we may make one. Its name
    is random: nothing in it means anything to the sandbox."""
    base = Path("/sys/fs/cgroup/pids")
    if os.getuid() != 0 or not os.access(base, os.W_OK):
        return None
    group = base / f"mlsys-sbx-{secrets.token_hex(6)}"
    try:
        group.mkdir()
        (group / "pids.max").write_text(str(nproc + 8))  # + the sandbox's own launcher processes
        return group
    except OSError:
        return None


def _remove_cgroup(group: Path | None) -> None:
    if group is None:
        return
    for _ in range(50):
        try:
            for pid in (group / "cgroup.procs").read_text().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            group.rmdir()
            return
        except OSError:
            time.sleep(0.1)
