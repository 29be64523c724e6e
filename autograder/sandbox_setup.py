"""Inside the sandbox, before any student code: the mounts, then the runner, unprivileged.

Run by ``autograder.sandbox`` as ``python -m autograder.sandbox_setup CONFIG`` inside fresh mount,
PID and network namespaces, as their root. Only the standard library is imported here (it runs
once per submission: startup time counts). See ``autograder.sandbox`` for what the sandbox shows.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

STUDENT_UID = 65534
WORK = "/tmp/submission"
KEEP_IN_REPO = (".venv", "mlsys_kit")
RUNNER_FILES = ("__init__.py", "channel.py", "runner.py")


# ---- inside the sandbox: mounts as root of the new namespaces, then the runner, unprivileged ----
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
_libc = None


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    if _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {source} on {target}: {os.strerror(e)}")


def _locked_flags(target: str) -> int:
    """The flags a read-only remount must keep (a user namespace may not drop them)."""
    f = os.statvfs(target).f_flag
    return sum(ms for st, ms in ((2, MS_NOSUID), (4, MS_NODEV), (8, MS_NOEXEC), (1024, MS_NOATIME),
                                 (2048, MS_NODIRATIME), (4096, MS_RELATIME)) if f & st)


def _read_only(target: str) -> None:
    _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | _locked_flags(target))


def _rebind(cover: str, paths: list[Path], options: str, mode: str) -> None:
    """Mount a fresh tmpfs on ``cover`` and put back, at their own absolute paths and read-only,
    the ``paths`` below it that the sandbox needs (the environment, the checkout's kept parts):
    what else was there is gone from view."""
    inside = [p for p in paths if Path(cover) in p.parents]
    fds = {p: os.open(p, os.O_PATH) for p in inside}  # taken before the cover hides them
    _mount("tmpfs", cover, "tmpfs", MS_NOSUID | MS_NODEV, f"{options},mode={mode}")
    for p, fd in fds.items():
        p.mkdir(parents=True, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", str(p), None, MS_BIND | MS_REC)
        _read_only(str(p))
        os.close(fd)


def _expose(paths: list[Path]) -> None:
    """Make ``paths`` reachable by an unprivileged uid without opening what is next to them: each
    first ancestor that others may not enter (``/root``) is covered by a tmpfs holding only them."""
    covers: list[str] = []
    for path in paths:
        for i in range(1, len(path.parts)):
            anc = Path(*path.parts[:i])
            if anc != Path("/") and not os.stat(anc).st_mode & 0o001:
                if str(anc) not in covers:
                    covers.append(str(anc))
                break
    for cover in covers:
        _rebind(cover, paths, "size=1m", "0755")
        _read_only(cover)


def setup_and_run(cfg: dict) -> None:
    workdir, course, repo = Path(cfg["workdir"]), Path(cfg["course_root"]), Path(cfg["repo"])
    files = {rel: (workdir / rel).read_bytes() for rel in cfg["data"]}
    runner_files = {n: (repo / "autograder" / n).read_bytes() for n in RUNNER_FILES}
    work = Path(cfg["work"])
    if cfg["isolate"]:
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
        # 1. everything there is, read-only (/proc is the sandbox's own; /proc/sys is bound read-only below)
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            target = line.split()[4].replace("\\040", " ")
            if target == "/proc" or target.startswith("/proc/"):
                continue
            try:
                _read_only(target)
            except OSError:
                pass  # hidden under another mount, or gone
        _mount("/proc/sys", "/proc/sys", None, MS_BIND | MS_REC)
        _read_only("/proc/sys")
        # 2. the secrets covered: the course folder, the checkout (the environment, mlsys_kit and the
        #    runner's own files put back read-only)
        repo_fd = os.open(repo, os.O_PATH)
        if course.is_dir() and repo not in course.parents and course != repo:
            _mount("tmpfs", str(course), "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0555")
        _mount("tmpfs", str(repo), "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=0755")
        for sub in KEEP_IN_REPO:
            if os.path.isdir(f"/proc/self/fd/{repo_fd}/{sub}"):
                (repo / sub).mkdir()
                _mount(f"/proc/self/fd/{repo_fd}/{sub}", str(repo / sub), None, MS_BIND | MS_REC)
                _read_only(str(repo / sub))
        (repo / "autograder").mkdir()
        for name, blob in runner_files.items():
            (repo / "autograder" / name).write_bytes(blob)
        os.close(repo_fd)
        _read_only(str(repo))
        # the interpreter may live under a folder the student's uid cannot enter (/root/.pyenv):
        # cover that folder with an empty tmpfs and put back only the interpreter's tree
        needed = list(dict.fromkeys([Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), repo]))
        if cfg["root"]:
            _expose(needed)
        # 3. private, writable: /tmp (the working folder) and /dev/shm; an environment or checkout
        #    that lives below one of them (a clone under /tmp) is put back at its own path, read-only
        for target, size in (("/tmp", "256m"), ("/dev/shm", "64m")):
            if os.path.isdir(target):
                _rebind(target, needed, f"size={size}", "1777")
        if shutil.which("ip"):  # loopback only, so torch.distributed (gloo on 127.0.0.1) works offline
            subprocess.run(["ip", "link", "set", "lo", "up"], capture_output=True)
    work.mkdir(parents=True, exist_ok=True)
    for rel, blob in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_bytes(blob)
    runner = [sys.executable, "-m", "autograder.runner"]
    if not cfg["isolate"]:
        os.chdir(work)
        os.execvp(sys.executable, runner)
    uid = STUDENT_UID
    if cfg["root"]:
        for p in [work, *work.rglob("*")]:
            os.chown(p, uid, uid)
    os.chmod(work, 0o700)
    # this process is the PID namespace's init and stays root: when it dies (the grader killed the
    # launcher), the kernel kills every process in the namespace. The runner is its child.
    pid = os.fork()
    if pid == 0:
        os.chdir(work)
        if cfg["root"]:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        # a nested user namespace mapped to a non-root uid: no capabilities, nothing to undo the mounts with
        os.execvp("unshare", ["unshare", "--user", f"--map-user={uid}", f"--map-group={uid}", "--", *runner])
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            status = 0
            break
        except InterruptedError:
            continue
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


if __name__ == "__main__":
    setup_and_run(json.loads(sys.argv[1]))
