"""Inside the sandbox, before any student code: an empty root, then the runner, unprivileged.

Run by ``autograder.submission.sandbox`` as ``python -m autograder.submission.sandbox_root -`` (the config, JSON, on stdin:
the setup is the PID namespace's init, whose argv anyone inside can read) inside fresh mount,
PID, network, IPC and UTS namespaces (and a user namespace when the grader is not root), as their
root. It builds the sandbox's file system from nothing: a fresh tmpfs becomes the root
(``pivot_root``; the machine's root is then detached, not merely covered), holding only

* the interpreter's prefix (``sys.base_prefix``) and the environment (``sys.prefix``, and the
  checkout's ``.venv``), read-only binds at their own paths, with the symbolic links on the way
  to them reproduced as links;
* ``/usr`` (a read-only bind) and ``/bin``, ``/sbin``, ``/lib``, ``/lib64`` as on the machine
  (symbolic links on a merged-/usr system, else read-only binds);
* a minimal ``/etc``: copies of ld.so.cache and ld.so.conf(.d) (so multiarch libraries load),
  localtime as on the machine, and a passwd/group (root and nobody), hosts (localhost) and
  nsswitch.conf written here: nothing else of the machine's ``/etc``;
* a minimal ``/dev``: null, zero, full, random and urandom bound from the machine, the fd and
  std* links, and a private ``/dev/shm`` (tmpfs, 64 MiB); a fresh ``/proc`` of the sandbox's PID
  namespace (``/proc/sys`` read-only); a private ``/tmp`` (tmpfs, 256 MiB) holding the working
  folder ``/tmp/submission`` (HOME, TMPDIR) with the notebook's data files;
* the lab's filtered ``mlsys_kit`` (``autograder.submission.kit``: the kit without the lab's
  reference and what imports it), COPIED file by file into a fresh tmpfs at the kit's own path
  (where the grader imports it from: the editable install's finder and PYTHONPATH both land
  there), and the runner's files at ``<repo>/autograder`` (``RUNNER_FILES``: the runner and the channel's codec); any other ``mlsys_kit`` or
  ``autograder`` package in the environment's site-packages is covered by an empty tmpfs.

Everything but ``/tmp`` and ``/dev/shm`` is read-only. Only the standard library is imported here
(it runs once per submission: startup time counts).
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import struct
import sys
from pathlib import Path

STUDENT_UID = 65534
WORK = "/tmp/submission"
RUNNER_FILES = ("__init__.py", "submission/__init__.py", "submission/channel.py", "submission/nodes.py",
                "submission/encoder.py", "submission/decoder.py", "submission/runner.py")
HOSTNAME = "sandbox"
DEVICES = ("null", "zero", "full", "random", "urandom")
TOP_LEVEL = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")  # links on merged-/usr systems
STAGE = "/tmp"  # where the new root is mounted before pivot_root (in this mount namespace only)
PASSWD = "root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"
HOSTS = f"127.0.0.1\tlocalhost {HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
NSSWITCH = "".join(f"{db}: files\n" for db in ("passwd", "group", "shadow", "hosts", "networks", "protocols",
                                                "services"))
PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "arm64": 41, "riscv64": 41, "ppc64le": 203, "ppc64": 203, "s390x": 217}


# ---- system calls ------------------------------------------------------------------------------
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = \
    1, 2, 4, 8, 32, 4096, 8192, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
MNT_DETACH = 2
_libc = None


def _c():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(ret: int, what: str) -> None:
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    _check(_c().mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {source} on {target}")


def _locked_flags(target: str) -> int:
    """The flags a read-only remount must keep (a user namespace may not drop them)."""
    f = os.statvfs(target).f_flag
    return sum(ms for st, ms in ((2, MS_NOSUID), (4, MS_NODEV), (8, MS_NOEXEC), (1024, MS_NOATIME),
                                 (2048, MS_NODIRATIME), (4096, MS_RELATIME)) if f & st)


def _read_only(target: str) -> None:
    _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | _locked_flags(target))


def _tmpfs(target: str, options: str, flags: int = MS_NOSUID | MS_NODEV) -> None:
    _mount("tmpfs", target, "tmpfs", flags, options)


def _pivot_into(root: str) -> None:
    """Make ``root`` (a mount point) the root of this mount namespace and detach the old root:
    nothing of the machine stays reachable, not even by ``..`` or a leftover mount."""
    os.chdir(root)
    nr = PIVOT_ROOT.get(os.uname().machine)
    if nr is not None and _c().syscall(ctypes.c_long(nr), b".", b".") == 0:
        # pivot_root(".", "."): the old root is stacked on the new one; detaching it leaves the new one
        _check(_c().umount2(b".", MNT_DETACH), "detach the old root")
    else:  # an architecture not listed: move the new root over / and enter it (the old one is unreachable)
        _mount(".", "/", None, MS_MOVE)
        _check(_c().chroot(b"."), "chroot")
    os.chdir("/")


def _loopback_up() -> None:
    """``ip link set lo up`` without a program: torch.distributed (gloo on 127.0.0.1) works offline."""
    fd = _c().socket(2, 2, 0)  # AF_INET, SOCK_DGRAM (the socket module costs milliseconds to import)
    if fd < 0:
        _check(-1, "socket")
    try:
        req = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(fd, 0x8913, req))[1]  # SIOCGIFFLAGS
        fcntl.ioctl(fd, 0x8914, struct.pack("16sH22x", b"lo", flags | 1))  # SIOCSIFFLAGS, IFF_UP
    finally:
        os.close(fd)


# ---- what the new root holds, read from the machine before anything is mounted -----------------
def _chain(path: str, ops: list, depth: int = 0) -> str:
    """Record how to recreate ``path`` in the new root as it is on the machine: each component a
    directory, or a symbolic link with the machine's target (then followed). Returns the path
    with every link followed (where the real content goes)."""
    if depth > 20:
        raise OSError(f"too many symbolic links on the way to {path}")
    cur = "/"
    for name in Path(path).parts[1:]:
        nxt = os.path.join(cur, name)
        if os.path.islink(nxt):
            target = os.readlink(nxt)
            ops.append(("link", nxt, target))
            cur = _chain(os.path.normpath(os.path.join(cur, target)), ops, depth + 1)
        else:
            ops.append(("dir", nxt))
            cur = nxt
    return cur


def _hidden_packages(kit: str) -> list[str]:
    """Other copies of ``mlsys_kit`` (a plain install beside an editable one) and any installed
    ``autograder`` package in the environment's site-packages: covered with an empty tmpfs."""
    import site

    dirs = set(site.getsitepackages([sys.prefix, sys.base_prefix]))
    dirs |= {p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages")}
    out = []
    for d in sorted(dirs):
        for name in ("mlsys_kit", "autograder"):
            p = os.path.join(d, name)
            if os.path.isdir(p) and os.path.realpath(p) != os.path.realpath(kit):
                out.append(os.path.realpath(p))
    return out


def _read_tree(src: str, files: list[str]) -> dict[str, bytes]:
    out = {}
    for rel in files:
        if rel.startswith("/") or ".." in rel.split("/"):
            raise ValueError(f"bad kit path {rel!r}")
        fd = os.open(os.path.join(src, rel), os.O_RDONLY | os.O_CLOEXEC)
        try:
            out[rel] = os.read(fd, os.fstat(fd).st_size + 1)
        finally:
            os.close(fd)
    return out


def _write_tree(dest: str, files: dict[str, bytes]) -> None:
    made = {dest}
    for rel, blob in files.items():
        path = os.path.join(dest, rel)
        parent = os.path.dirname(path)
        if parent not in made:
            os.makedirs(parent, 0o755, exist_ok=True)
            made.add(parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, blob)
        finally:
            os.close(fd)


def _etc() -> dict[str, object]:
    """/etc of the new root: {name: bytes, or ("link", target)}."""
    out: dict[str, object] = {"passwd": PASSWD.encode(), "group": GROUP.encode(), "hosts": HOSTS.encode(),
                              "nsswitch.conf": NSSWITCH.encode(), "hostname": (HOSTNAME + "\n").encode()}
    for name in ("ld.so.cache", "ld.so.conf"):
        try:
            out[name] = Path("/etc", name).read_bytes()
        except OSError:
            pass
    if os.path.isdir("/etc/ld.so.conf.d"):
        for entry in sorted(os.listdir("/etc/ld.so.conf.d")):
            try:
                out["ld.so.conf.d/" + entry] = Path("/etc/ld.so.conf.d", entry).read_bytes()
            except OSError:
                pass
    if os.path.islink("/etc/localtime"):
        out["localtime"] = ("link", os.readlink("/etc/localtime"))
    elif os.path.isfile("/etc/localtime"):
        out["localtime"] = Path("/etc/localtime").read_bytes()
    return out


def build_root(cfg: dict) -> None:
    """The sandbox's file system, from nothing (the module docstring); returns inside it."""
    repo = cfg["repo"]
    kit_path, kit_files = cfg["kit"]["path"], cfg["kit"]["files"]
    kit = _read_tree(os.path.realpath(kit_path), kit_files)
    runner = _read_tree(os.path.join(repo, "autograder"), list(RUNNER_FILES))
    etc = _etc()
    hidden = _hidden_packages(kit_path)
    # what goes where: (real target path, the components that lead to it, kind, what)
    places: list[tuple[str, list, str, object]] = []

    def place(path: str, kind: str, what: object) -> None:
        ops: list = []
        real = _chain(path, ops)
        if not any(real == p[0] for p in places):  # the checkout's .venv may be the environment itself
            places.append((real, ops, kind, what))
        else:
            places.append((real, ops, "links", None))

    links = []
    for name in TOP_LEVEL:
        p = "/" + name
        if os.path.islink(p):
            links.append((p, os.readlink(p)))
        elif os.path.isdir(p):
            place(p, "bind", None)
    place("/usr", "bind", None)
    envs = [sys.base_prefix, sys.prefix]
    if os.path.realpath(os.path.join(repo, ".venv")) == os.path.realpath(sys.prefix):
        envs.append(os.path.join(repo, ".venv"))  # the checkout's .venv, when it is the environment
    for p in dict.fromkeys(os.path.abspath(e) for e in envs):
        place(p, "bind", None)
    place(kit_path, "tree", kit)
    place(os.path.join(repo, "autograder"), "tree", runner)
    for p in hidden:
        places.append((p, [], "empty", None))
    fds = {}
    for real, _ops, kind, _w in places:
        if kind == "bind":
            fds[real] = os.open(real, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    devices = {d: os.open("/dev/" + d, os.O_PATH | os.O_CLOEXEC) for d in DEVICES if os.path.exists("/dev/" + d)}

    # the new root: nothing of the machine from here on but what was read or opened above
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    root = STAGE
    _tmpfs(root, "size=16m,mode=0755")
    at = lambda p: root + p  # noqa: E731
    os.mkdir(at("/proc"), 0o555)
    _mount("proc", at("/proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _mount(at("/proc/sys"), at("/proc/sys"), None, MS_BIND | MS_REC)
    _read_only(at("/proc/sys"))
    os.mkdir(at("/tmp"))
    _tmpfs(at("/tmp"), "size=256m,mode=1777")
    os.mkdir(at("/dev"))
    _tmpfs(at("/dev"), "size=64k,mode=0755", MS_NOSUID | MS_NOEXEC)
    for d, fd in devices.items():
        open(at("/dev/" + d), "w").close()
        _mount(f"/proc/self/fd/{fd}", at("/dev/" + d), None, MS_BIND)
        os.close(fd)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, at("/dev/" + name))
    os.mkdir(at("/dev/shm"))
    _tmpfs(at("/dev/shm"), "size=64m,mode=1777")
    _read_only(at("/dev"))
    for p, target in links:
        os.symlink(target, at(p))
    # deeper paths after the ones they lie in: a tree inside a bound environment lands on top of it
    for real, ops, kind, what in sorted(places, key=lambda x: len(Path(x[0]).parts)):
        for op in ops:
            if os.path.lexists(at(op[1])):
                continue
            if op[0] == "link":
                os.symlink(op[2], at(op[1]))
            else:
                os.mkdir(at(op[1]), 0o755)
        if kind == "bind":
            _mount(f"/proc/self/fd/{fds[real]}", at(real), None, MS_BIND | MS_REC)
            _read_only(at(real))
            os.close(fds[real])
        elif kind == "tree":
            _tmpfs(at(real), "size=64m,mode=0755")
            _write_tree(at(real), what)
            _read_only(at(real))
        elif kind == "empty" and os.path.isdir(at(real)) and not os.path.islink(at(real)):
            _tmpfs(at(real), "size=4k,mode=0555")
            _read_only(at(real))
    os.mkdir(at("/etc"))
    for name, blob in etc.items():
        if isinstance(blob, tuple):
            os.symlink(blob[1], at("/etc/" + name))
    _write_tree(at("/etc"), {name: blob for name, blob in etc.items() if not isinstance(blob, tuple)})
    _read_only(root)
    _pivot_into(root)


def setup_and_run(cfg: dict) -> None:
    workdir = Path(cfg["workdir"])
    files = {rel: (workdir / rel).read_bytes() for rel in cfg["data"]}
    work = Path(cfg["work"])
    if cfg["isolate"]:
        build_root(cfg)
        _check(_c().sethostname(HOSTNAME.encode(), len(HOSTNAME)), "sethostname")  # its own UTS namespace
        _loopback_up()
    work.mkdir(parents=True, exist_ok=True)
    for rel, blob in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_bytes(blob)
    runner = [sys.executable, "-m", "autograder.submission.runner"]
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


def _config() -> dict:
    """The config: JSON on stdin (``-``, what the grader passes) or in argv; stdin becomes /dev/null."""
    if sys.argv[1] != "-":
        return json.loads(sys.argv[1])
    cfg = json.loads(sys.stdin.buffer.read())
    fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)
    return cfg


if __name__ == "__main__":
    setup_and_run(_config())
