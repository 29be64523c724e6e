"""Run one submission's notebook in a sandbox, as an nbgrader preprocessor.

``SandboxedExecute`` takes the place of nbgrader's ``Execute`` in ``nbgrader autograde`` (the
course's ``nbgrader_config.py`` sets this up), so nbgrader still restores the instructor's test
cells, saves the grades to its gradebook and makes the feedback. What changes is where and how
student code runs:

* **Isolation** (Linux, with util-linux ``unshare``; no root needed): new user, mount, PID and
  network namespaces. Inside, the course root (gradebook, ``source/`` with the hidden tests,
  other students' submissions) is covered by an empty tmpfs, every other mount is read-only,
  the one writable place is a private tmpfs (the working folder, also HOME and TMPDIR), there is
  no network and ``/proc`` shows only the sandbox. The cells
  then run in a nested user namespace that holds no capabilities, so they cannot undo any of
  this. The working folder holds only the notebook's copy of the lab's data files.
* **Limits** (``setrlimit``, configurable here): CPU seconds, address space, processes, file
  size; per-cell wall time (alarm) and per-notebook wall time (the whole process group is
  killed); output bytes per cell.
* **Integrity**: see ``autograder.runner``: tests run outside IPython's hooks, after a guard that
  undoes and flags tampering; results come back on a pipe tagged with a fresh nonce.

Flags (what was found, in words) are written to ``.mlsys-grade.json`` beside the autograded
notebook, out of the sandbox's reach, and ``mlsys-grade`` adds them to the grading record.
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

FLAGS_FILE = ".mlsys-grade.json"


@functools.lru_cache(maxsize=1)
def isolation_available() -> bool:
    """Whether unprivileged user+mount+pid+net namespaces work here."""
    if not sys.platform.startswith("linux") or not shutil.which("unshare"):
        return False
    res = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "--net", "--pid", "--fork", "true"],
                         capture_output=True, timeout=30)
    return res.returncode == 0


class SandboxError(RuntimeError):
    """The notebook could not be run to the end: the reason, in words."""


class SandboxedExecute(NbGraderPreprocessor):
    """nbgrader's Execute, sandboxed. Limits default to what a lab of this course needs."""

    timeout = Integer(60, help="wall seconds one cell may run").tag(config=True)
    notebook_timeout = Integer(600, help="wall seconds the whole notebook may run").tag(config=True)
    cpu_seconds = Integer(600, help="CPU seconds for the whole notebook").tag(config=True)
    memory_mb = Integer(6144, help="address space of the notebook's process, MiB").tag(config=True)
    max_processes = Integer(64, help="processes the notebook may start").tag(config=True)
    max_file_mb = Integer(64, help="largest file the notebook may write, MiB").tag(config=True)
    max_output_kb = Integer(1024, help="output kept per cell, KiB").tag(config=True)
    isolate = Bool(True, help="use namespaces (Linux); off: limits only, and a flag says so").tag(config=True)
    reference_modules = List(Unicode(), help="modules whose use by student code is flagged").tag(config=True)

    def preprocess(self, nb, resources):
        workdir = Path(resources.get("metadata", {}).get("path") or ".").resolve()
        course_root = Path(os.environ.get("MLSYS_COURSE_ROOT") or Path.cwd()).resolve()
        info = resources.get("nbgrader", {})
        source = course_root / "source" / info.get("assignment", "") / f"{info.get('notebook', '')}.ipynb"
        declared = json.loads(source.read_text()).get("metadata", {}).get("mlsys_grade", {}) if source.is_file() else {}
        reference = list(self.reference_modules) + list(declared.get("reference", []))  # from the source: trusted
        cells, kinds = [], []
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            meta = cell.metadata.get("nbgrader", {})
            kind = "test" if meta.get("grade") and not meta.get("solution") else (
                "locked" if meta.get("locked") and not meta.get("solution") else "student")
            cells.append({"kind": kind, "id": meta.get("grade_id", f"cell-{i}"), "source": cell.source})
            kinds.append(i)
        for c in cells:
            if c["kind"] == "student":
                used = sorted(m for m in reference if uses_module(c["source"], m))
                if used:
                    flags0 = nb.metadata.setdefault("mlsys_grade_flags", [])
                    flags0.append(f"solution cell {c['id']!r} uses the reference implementation {', '.join(used)}")
        nonce = secrets.token_hex(16)
        spec = {"cells": cells, "nonce": nonce, "reference_modules": reference,
                "test_imports": sorted({m for c in cells if c["kind"] == "test" for m in imported_modules(c["source"])}),
                "limits": {"cell_seconds": self.timeout, "output_bytes": self.max_output_kb * 1024}}
        result, flags = self.run_sandboxed(spec, workdir, course_root, nonce)
        flags = list(nb.metadata.pop("mlsys_grade_flags", [])) + flags
        outputs = result.get("outputs")
        if outputs is None:
            (workdir / FLAGS_FILE).write_text(json.dumps({"flags": flags, "fatal": result.get("fatal")}))
            raise SandboxError(result.get("fatal", "the sandbox returned no result"))
        for i, outs in zip(kinds, outputs):
            nb.cells[i].outputs = [_output(o) for o in outs]
            nb.cells[i].execution_count = None
        (workdir / FLAGS_FILE).write_text(json.dumps({"flags": flags + result.get("flags", [])}))
        return nb, resources

    def run_sandboxed(self, spec: dict, workdir: Path, course_root: Path, nonce: str) -> tuple[dict, list[str]]:
        flags: list[str] = []
        isolate = self.isolate and isolation_available()
        if self.isolate and not isolate:
            flags.append("isolation unavailable on this machine: the notebook ran with limits only")
        data = [str(p.relative_to(workdir)) for p in workdir.rglob("*")
                if p.is_file() and p.suffix != ".ipynb" and p.name != FLAGS_FILE]
        needed = [Path(sys.prefix).resolve(), Path(__file__).resolve().parents[1]]
        if isolate and any(course_root == p or course_root in p.parents for p in needed):
            raise SandboxError(f"the course folder {course_root} contains the Python environment or mlsys-kit, "
                               "which the sandbox must hide with it: keep the course in its own folder")
        work = Path(tempfile.mkdtemp(prefix="mlsys-sbx-"))  # the sandbox mounts a private tmpfs here
        try:
            return self._launch(spec, workdir, course_root, nonce, isolate, data, work, flags)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _launch(self, spec, workdir, course_root, nonce, isolate, data, work, flags):
        setup = [sys.executable, "-m", "autograder.sandbox", "--setup", json.dumps({
            "course_root": str(course_root), "workdir": str(workdir), "data": data, "isolate": isolate,
            "work": str(work)})]
        cmd = (["unshare", "--user", "--map-root-user", "--mount", "--net", "--pid", "--fork", "--mount-proc",
                "--kill-child"] + setup) if isolate else setup
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "HOME", "OPENBLAS_CORETYPE",
                                                          "OPENBLAS_L2_SIZE", "TZ")}
        env.update(MPLBACKEND="Agg", IPYTHONDIR=str(work / ".ipython"), HOME=str(work), TMPDIR=str(work),
                   PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1", PYTHONHASHSEED="0",
                   PYTHONPATH=str(Path(__file__).resolve().parents[1]))
        cgroup = _pids_cgroup(nonce, self.max_processes)
        limits = Limits(self.cpu_seconds, self.memory_mb, self.max_processes, self.max_file_mb, cgroup)
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=workdir, env=env, start_new_session=True, preexec_fn=limits.apply)
        try:
            out, err = proc.communicate(json.dumps(spec).encode(), timeout=self.notebook_timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return {"fatal": f"the notebook ran past its limit of {self.notebook_timeout} s and was stopped"}, flags
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _remove_cgroup(cgroup)
        tag = f"MLSYS-RESULT {nonce} ".encode()
        lines = [line for line in out.splitlines() if line.startswith(tag)]
        if len(lines) != 1:
            tail = [t for t in err.decode(errors="replace").strip().splitlines() if "Warning" not in t][-2:]
            return {"fatal": f"the kernel died (exit status {proc.returncode}) before the notebook finished"
                             + (f": {' | '.join(tail)}" if tail else "")}, flags
        return json.loads(lines[0][len(tag):]), flags


class Limits:
    """rlimits (and the pids cgroup, where we may make one) set in the child before it execs."""

    def __init__(self, cpu: int, memory_mb: int, nproc: int, file_mb: int, cgroup: Path | None):
        self.cpu, self.memory, self.nproc, self.fsize, self.cgroup = cpu, memory_mb << 20, nproc, file_mb << 20, cgroup
        uid = os.getuid()
        # RLIMIT_NPROC counts all of the user's processes (and root is exempt): allow those running now plus nproc
        self.nproc_now = sum(1 for p in Path("/proc").iterdir() if p.name.isdigit() and _owner(p) == uid)

    def apply(self) -> None:
        for res, value in ((resource.RLIMIT_CPU, self.cpu), (resource.RLIMIT_AS, self.memory),
                           (resource.RLIMIT_FSIZE, self.fsize), (resource.RLIMIT_CORE, 0),
                           (resource.RLIMIT_NPROC, self.nproc_now + self.nproc)):
            resource.setrlimit(res, (value, value))
        if self.cgroup is not None:
            (self.cgroup / "cgroup.procs").write_text(str(os.getpid()))


def _owner(p: Path) -> int:
    try:
        return p.stat().st_uid
    except OSError:
        return -1


def _pids_cgroup(name: str, nproc: int) -> Path | None:
    """A cgroup-v1 pids group capping the sandbox's processes, where we are allowed to make one
    (root exempts itself from RLIMIT_NPROC, so a fork bomb needs this)."""
    base = Path("/sys/fs/cgroup/pids")
    if os.getuid() != 0 or not os.access(base, os.W_OK):
        return None
    group = base / f"mlsys-grade-{name}"
    try:
        group.mkdir()
        (group / "pids.max").write_text(str(nproc + 8))  # + the sandbox's own launcher processes
        return group
    except OSError:
        return None


def _remove_cgroup(group: Path | None) -> None:
    if group is not None:
        for _ in range(50):
            try:
                group.rmdir()
                return
            except OSError:
                time.sleep(0.1)


def imported_modules(source: str) -> set[str]:
    """Modules (and their parents) a cell imports: the ones whose attributes the guard watches."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    mods: set[str] = set()
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module] + [f"{node.module}.{a.name}" for a in node.names]  # `from pkg import module`
            if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
        for name in names:
            parts = name.split(".")
            mods.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return mods


def uses_module(source: str, module: str) -> bool:
    """Whether a cell imports ``module`` (or something in it), spells it out as an attribute chain
    (``mlsys_kit.models.costs.param_count``) or names it in a string (``importlib``)."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return module in source
    inside = lambda name: name == module or name.startswith(module + ".")  # noqa: E731
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and module in node.value:
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(inside(n) for n in imported_modules(ast.unparse(node))):
            return True
        if isinstance(node, ast.Attribute) and inside(ast.unparse(node)):
            return True
    return False


def _output(o: dict):
    from nbformat import from_dict

    return from_dict(o)


# ---- inside the sandbox: namespaces are set up, then the runner starts ----------------------
def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def setup_and_run(cfg: dict) -> None:
    workdir, course = Path(cfg["workdir"]), Path(cfg["course_root"])
    files = {rel: (workdir / rel).read_bytes() for rel in cfg["data"]}
    work = Path(cfg["work"])
    if cfg["isolate"]:
        _mount("--make-rprivate", "/")
        _mount("-t", "tmpfs", "-o", "size=1m,mode=0555", "tmpfs", str(course))
        # the one writable place: a private tmpfs (other sandboxes see their own, the host an empty folder)
        _mount("-t", "tmpfs", "-o", "size=256m,mode=0700", "tmpfs", str(work))
        if shutil.which("ip"):  # loopback only, so torch.distributed (gloo on 127.0.0.1) works offline
            subprocess.run(["ip", "link", "set", "lo", "up"], capture_output=True)
        for line in Path("/proc/self/mounts").read_text().splitlines():
            target = line.split()[1].replace("\\040", " ")
            if target in (str(work), str(course)) or target.startswith(("/proc", "/dev", "/sys")):
                continue
            subprocess.run(["mount", "-o", "remount,bind,ro", target], capture_output=True)
    for rel, blob in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_bytes(blob)
    os.chdir(work)
    runner = [sys.executable, "-m", "autograder.runner"]
    if cfg["isolate"]:
        # a nested user namespace without capabilities: the mounts above cannot be undone
        os.execvp("unshare", ["unshare", "--user", "--", *runner])
    os.execvp(sys.executable, runner)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--setup"]:
        setup_and_run(json.loads(sys.argv[2]))
