"""JupyterHub for a class on one machine: ``mlsys-grade class start`` (``make class``).

The hub runs as root on 127.0.0.1 with configurable-http-proxy (installed by the Makefile into
the repository's ``node_modules/``), authenticates the class's Linux accounts with PAM, and starts
each person's JupyterLab as that person (``ClassSpawner``): the instructor's on the course folder
with every nbgrader tool and the course's config (the kit's judge as the grader), a student's on
their home folder with the assignment list and Validate only (``labs/jupyter-config/<role>``).

``ClassSpawner`` runs each server in its own mount namespace where the folders that hold the
course's Python and that other accounts may not enter (``/root`` when Python came from pyenv
there) hold only the paths to it (an empty tmpfs with those bound in): the account reaches the
interpreter and nothing else of them.

One class runs at a time per class folder (``hub/lock``); stopping it (Ctrl-C, SIGTERM, or
``mlsys-grade class stop``) stops the hub, the proxy and every process of the class's accounts,
and leaves the course, the gradebook and the exchange in place.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from autograder.course.classroom import REPO, ClassFolder, role_config_path
from autograder.course.root import CourseError

try:
    from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
    from traitlets import List, Unicode
except ImportError:  # the grader's commands do not need the hub installed
    LocalProcessSpawner = object

BIN = Path(sys.executable).parent
PROXY = REPO / "node_modules" / ".bin" / "configurable-http-proxy"
CLONE_NEWNS, MS_BIND, MS_REC, MS_PRIVATE = 0x20000, 4096, 0x4000, 1 << 18


def hidden_ancestors(paths: list[str]) -> dict[str, set[str]]:
    """{folder other accounts cannot enter: the names below it on the way to ``paths``} (the
    topmost such folder of each path; a second one deeper down is an error)."""
    out: dict[str, set[str]] = {}
    for raw in paths:
        path = Path(os.path.realpath(raw))
        parts = path.parts
        for i in range(1, len(parts)):
            folder = Path(*parts[:i])
            if not folder.stat().st_mode & stat.S_IXOTH:
                for j in range(i + 1, len(parts)):
                    deeper = Path(*parts[:j])
                    if deeper.is_dir() and not deeper.stat().st_mode & stat.S_IXOTH:
                        raise CourseError(f"{path} is under {deeper}, which other accounts cannot enter: make it o+x")
                out.setdefault(str(folder), set()).add(parts[i])
                break
    return out


def _expose(hidden: dict[str, set[str]]):
    """A preexec step: a private mount namespace where each hidden folder holds only the names
    on the way to the course's Python (an empty tmpfs with those bound in)."""
    libc = ctypes.CDLL(None, use_errno=True)

    def check(rc: int, what: str) -> None:
        if rc != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    def step() -> None:
        check(libc.unshare(CLONE_NEWNS), "unshare")
        check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
        for folder, names in sorted(hidden.items()):
            fds = {n: os.open(os.path.join(folder, n), os.O_PATH) for n in sorted(names)}
            check(libc.mount(b"tmpfs", folder.encode(), b"tmpfs", 0, b"mode=0755,size=64k"), f"tmpfs on {folder}")
            for name, fd in fds.items():
                target = os.path.join(folder, name)
                os.mkdir(target)
                check(libc.mount(f"/proc/self/fd/{fd}".encode(), target.encode(), None, MS_BIND | MS_REC, None),
                      f"bind {target}")
                os.close(fd)

    return step


class ClassSpawner(LocalProcessSpawner):
    """LocalProcessSpawner with the class's roles: where each server starts, with which
    configuration, in a namespace where it can run the course's Python."""

    if LocalProcessSpawner is not object:
        class_dir = Unicode(help="the class folder (autograder.course.classroom)").tag(config=True)
        instructors = List(Unicode(), help="accounts that get the instructor's server").tag(config=True)

    def role(self) -> str:
        return "instructor" if self.user.name in self.instructors else "student"

    def get_env(self):
        env = super().get_env()
        folder = ClassFolder.at(self.class_dir)
        env.update(PATH=f"{BIN}:/usr/local/bin:/usr/bin:/bin", PYTHONPATH=str(REPO), MLSYS_CLASS_DIR=str(folder.root),
                   JUPYTER_CONFIG_PATH=role_config_path(folder, self.role()), PYDEVD_DISABLE_FILE_VALIDATION="1")
        env.pop("JUPYTER_CONFIG_DIR", None)
        return env

    async def start(self):
        folder = ClassFolder.at(self.class_dir)
        self.notebook_dir = str(folder.course) if self.role() == "instructor" else "~"
        return await super().start()

    def make_preexec_fn(self, name):
        hidden = hidden_ancestors([sys.executable, sys.prefix, sys.base_prefix, str(REPO)])
        expose, become = _expose(hidden), set_user_setuid(name)

        def preexec():
            expose()
            become()

        return preexec


HUB_CONFIG = '''\
# Made by `mlsys-grade class start` (autograder/course/hub.py) at each start.
c = get_config()  # noqa: F821
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.ConfigurableHTTPProxy.should_start = True
c.JupyterHub.db_url = "sqlite:///{hub}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{hub}/jupyterhub_cookie_secret"
c.JupyterHub.pid_file = "{hub}/jupyterhub.pid"
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.open_sessions = False
c.Authenticator.allowed_users = {users!r}
c.Authenticator.admin_users = {instructors!r}
c.JupyterHub.spawner_class = "autograder.course.hub.ClassSpawner"
c.ClassSpawner.class_dir = "{root}"
c.ClassSpawner.instructors = {instructor_list!r}
c.Spawner.cmd = [{python!r}, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
c.LocalProcessSpawner.interrupt_timeout = 1  # a server without a terminal waits 5 s on SIGINT; SIGTERM stops it at once
c.LocalProcessSpawner.term_timeout = 5
c.Spawner.args = {spawner_args!r}
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_taken(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def write_hub_config(folder: ClassFolder, port: int) -> Path:
    people = folder.people()
    instructors = [p.username for p in people if p.role == "instructor"]
    path = folder.hub / "jupyterhub_config.py"
    path.write_text(HUB_CONFIG.format(
        port=port, hub_port=free_port(), api_port=free_port(), proxy=str(PROXY), hub=folder.hub, root=folder.root,
        users={p.username for p in people}, instructors=set(instructors), instructor_list=instructors,
        python=str(BIN / "python"),
        # the browser test drives JupyterLab through window.jupyterapp, as tests/browser/jlab.py does
        spawner_args=["--LabApp.expose_app_in_browser=True"] if os.environ.get("MLSYS_CLASS_EXPOSE_APP") == "1" else []))
    os.chmod(path, 0o600)
    return path


class Lock:
    """``hub/lock``: held (flock) by the running ``class start``; holds its pid and URL."""

    def __init__(self, folder: ClassFolder):
        self.path = folder.hub / "lock"
        self.fd: int | None = None

    def take(self, url: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            held = self.holder()
            raise CourseError(f"a class is already running from {self.path.parent.parent}"
                              + (f" at {held.get('url')} (pid {held.get('pid')})" if held else "")
                              + ": stop it first (Ctrl-C where it runs, or `mlsys-grade class stop --dir "
                              f"{self.path.parent.parent}`)") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "url": url}).encode())
        self.fd = fd

    def holder(self) -> dict:
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def held(self) -> bool:
        if not self.path.exists():
            return False
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    def release(self) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.close(self.fd)
            self.fd = None


def run(folder: ClassFolder, port: int, passwords: dict[str, str], out=print, ready=None) -> int:
    """Run the class's hub until SIGINT/SIGTERM (or the hub dies); then stop everything it
    started. ``ready`` (a callable) is called once the hub answers."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise CourseError(f"the hub's port is a TCP port, 1 to 65535: got {port!r}")
    url = f"http://127.0.0.1:{port}/"
    lock = Lock(folder)
    lock.take(url)
    hub = None
    stopping = {"now": False}

    def on_signal(signum, frame):
        stopping["now"] = True

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        if not PROXY.is_file():
            raise CourseError(f"no configurable-http-proxy at {PROXY}: `make class` installs it (npm ci, pinned in "
                              "package.json); or run `npm ci` in the repository")
        if port_taken(port):
            raise CourseError(f"port {port} on 127.0.0.1 is taken: give another (--port, or make class PORT=...)")
        config = write_hub_config(folder, port)
        log = open(folder.hub / "jupyterhub.log", "ab")
        env = dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}", PYTHONPATH=str(REPO))
        hub = subprocess.Popen([str(BIN / "python"), "-m", "jupyterhub", "-f", str(config)], cwd=folder.hub, env=env,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_healthy(url, hub, folder, stopping)
        if stopping["now"]:
            return 0
        out(f"The class is running at {url}  (hub log: {folder.hub / 'jupyterhub.log'})")
        out(f"Course and gradebook: {folder.course}   exchange: {folder.exchange}")
        roles = {p.username: p.role for p in folder.people()}
        for name, pw in passwords.items():
            out(f"  {roles.get(name, 'student'):<10} {name:<20} password {pw}")
        out("Stop it with Ctrl-C: the course, the grades and the exchange stay in place.")
        if ready:
            ready()
        while not stopping["now"] and hub.poll() is None:
            time.sleep(0.5)
        if hub.poll() is not None and not stopping["now"]:
            out(f"the hub stopped by itself (exit {hub.returncode}): see {folder.hub / 'jupyterhub.log'}")
            return 1
        return 0
    finally:
        stop_all(folder, hub)
        lock.release()
        for s, h in old.items():
            signal.signal(s, h)


def wait_healthy(url: str, hub: subprocess.Popen, folder: ClassFolder, stopping: dict, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and not stopping["now"]:
        if hub.poll() is not None:
            tail = (folder.hub / "jupyterhub.log").read_text(errors="replace")[-3000:]
            raise CourseError(f"the hub exited ({hub.returncode}) while starting:\n{tail}")
        try:
            with urllib.request.urlopen(url + "hub/health", timeout=3) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    if not stopping["now"]:
        raise CourseError(f"the hub did not answer at {url} within {timeout:.0f} s: see {folder.hub / 'jupyterhub.log'}")


def stop_all(folder: ClassFolder, hub: subprocess.Popen | None) -> None:
    """The hub (it stops the servers and the proxy), then whatever is left: its process group
    and every process of the class's accounts."""
    import psutil

    if hub is not None and hub.poll() is None:
        hub.send_signal(signal.SIGTERM)
        try:
            hub.wait(30)
        except subprocess.TimeoutExpired:
            pass
    if hub is not None:
        try:
            os.killpg(hub.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        hub.wait()
    uids = set()
    for name in folder.accounts.users:
        try:
            import pwd

            uids.add(pwd.getpwnam(name).pw_uid)
        except KeyError:
            pass
    procs = [p for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real in uids]
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=10)


def stop(folder: ClassFolder, timeout: float = 90) -> bool:
    """Ask the running ``class start`` of this folder to stop; True once it has."""
    lock = Lock(folder)
    if not lock.held():
        return False
    pid = lock.holder().get("pid")
    if isinstance(pid, int):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
    deadline = time.time() + timeout
    while time.time() < deadline and lock.held():
        time.sleep(0.5)
    return not lock.held()
