"""The trusted judge: runs a lab's test cells in the grader's process, never student code.

Issue #12, "the sandbox observes, the judge judges". A test cell's code (visible and hidden parts,
taken from the instructor's source notebook by grade id) is executed HERE, in a namespace where:

* names the cell binds, names checker cells bound, and Python's builtins are the judge's own;
* any other name is looked up in the sandbox's namespace, each time it is read, and arrives as
  plain data (None, bool, int, float, str, bytes, list, tuple, dict, numpy arrays, torch
  tensors: copies, rebuilt here, so ``type(x) is int`` and ``==`` are the judge's) or as a
  ``Remote`` handle to an object that stays in the sandbox;
* ``remote(value)`` makes a copy of a plain value inside the sandbox and returns its handle.

A ``Remote`` forwards calls, attribute and item access, ``len``, ``bool``, ``in`` and iteration
(materialised as a list) over the channel; it compares equal only to itself (identity of the
remote object), hashes by handle, and has no arithmetic or ordering. Arguments sent to the
sandbox are plain data and handles; a judge-side function or object is refused with a clear
error. An exception raised in the sandbox comes back as a judge-side exception of the nearest
builtin class (``except ValueError`` works), marked ``RemoteError``.

Each test cell yields nbgrader outputs (its printed text, and an error output if it raised), so
nbgrader's ``SaveAutoGrades`` scores it exactly as it scores a cell run in a kernel. If the
sandbox dies, stops answering, or breaks the protocol, ``SandboxLost`` (a ``BaseException``, so
no ``except Exception`` in a test can swallow it) ends the submission with that reason.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import keyword
import signal
import socket
import threading
import time
import traceback
from typing import Any

from autograder import channel

JUDGE_BUILTINS = vars(builtins)


class SandboxLost(BaseException):
    """The sandbox died, stopped answering, or sent something that is not a valid message."""


class TestTimeout(BaseException):
    """A test cell ran past its time limit in the judge."""


class RemoteError(Exception):
    """Base of every exception that was raised in the sandbox (by student code)."""


_REMOTE_CLASSES: dict[tuple[str, type], type] = {}


def remote_exception_class(type_name: str, bases: list) -> type:
    """A judge-side class for an exception raised in the sandbox: named like the remote one,
    deriving from its nearest builtin Exception base and from ``RemoteError``."""
    base: type = Exception
    for name in bases if type(bases) is list else []:
        cls = JUDGE_BUILTINS.get(name) if type(name) is str else None
        if isinstance(cls, type) and issubclass(cls, Exception):
            base = cls
            break
    name = type_name if type(type_name) is str and type_name.isidentifier() and not keyword.iskeyword(type_name) \
        else "RemoteException"
    key = (name, base)
    if key not in _REMOTE_CLASSES:
        bases_ = (RemoteError,) if base is Exception else (base, RemoteError)
        _REMOTE_CLASSES[key] = type(name, bases_, {"__module__": "sandbox"})
    return _REMOTE_CLASSES[key]


CALLABLE_TYPES = ("method", "function", "builtin_function_or_method", "type", "ABCMeta")


class Remote:
    """A handle to an object in the sandbox (see the module docstring). Within one test cell, a
    method or a function/class read by name is fetched once (the cells between tests may rebind
    them; a test cell that needs a fresh read calls ``refresh()``)."""

    __slots__ = ("_judge", "_hid", "_type")

    def __init__(self, judge: "Session", hid: int, type_name: str):
        object.__setattr__(self, "_judge", judge)
        object.__setattr__(self, "_hid", hid)
        object.__setattr__(self, "_type", type_name)

    def _req(self, op: str, **kw):
        return self._judge.request(op, target=channel.Handle(self._hid, self._type), **kw)

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # Python's own protocol probes stay on the judge's side
        cache = self._judge.methods
        key = (self._hid, name)
        if key in cache:
            return cache[key]
        value = self._req("getattr", name=name)
        if type(value) is Remote and value._type in CALLABLE_TYPES:
            cache[key] = value  # a method: one round trip per test cell, not per call
        return value

    def __setattr__(self, name: str, value) -> None:
        self._judge.methods.pop((self._hid, name), None)
        self._req("setattr", name=name, value=value)

    def __getitem__(self, key):
        return self._req("getitem", key=key)

    def __setitem__(self, key, value) -> None:
        self._req("setitem", key=key, value=value)

    def __call__(self, *args, **kwargs):
        return self._req("call", args=list(args), kwargs=dict(kwargs))

    def __len__(self) -> int:
        n = self._req("len")
        if type(n) is not int or n < 0:
            raise TypeError(f"len() of a remote {self._type} gave {type(n).__name__}, not a non-negative int")
        return n

    def __bool__(self) -> bool:
        b = self._req("bool")
        if type(b) is not bool:
            raise TypeError(f"bool() of a remote {self._type} gave {type(b).__name__}")
        return b

    def __contains__(self, value) -> bool:
        b = self._req("contains", value=value)
        if type(b) is not bool:
            raise TypeError(f"'in' on a remote {self._type} gave {type(b).__name__}")
        return b

    def __iter__(self):
        items = self._req("iter")
        if type(items) is not list:
            raise TypeError(f"iterating a remote {self._type} gave {type(items).__name__}")
        return iter(items)

    def __eq__(self, other) -> bool:
        return other is self  # proxies are interned per handle: identity of the remote object

    def __ne__(self, other) -> bool:
        return other is not self

    def __hash__(self) -> int:
        return hash(("remote", self._hid))

    def __repr__(self) -> str:
        return f"<remote {self._type} #{self._hid}>"

    def __reduce__(self):
        raise TypeError("a remote handle cannot be pickled")


def remote_type(value) -> str:
    """The type name of a remote object (``type(x).__qualname__`` in the sandbox, as it said)."""
    return value._type if type(value) is Remote else type(value).__qualname__


class Session:
    """The judge's end of the channel to one sandbox: requests, with time limits and caps."""

    def __init__(self, sock: socket.socket, request_seconds: float = 30.0, grace: float = 5.0,
                 deadline: float | None = None, max_message: int = channel.MESSAGE_BYTES,
                 max_total: int = channel.SUBMISSION_BYTES):
        self.sock = sock
        self.reader = channel.FrameReader(sock, max_message, max_total)
        self.request_seconds, self.grace, self.deadline = request_seconds, grace, deadline
        self.proxies: dict[int, Remote] = {}
        self.methods: dict[tuple[int, str], Remote] = {}  # (object, name) -> bound method, per test cell
        self.names: dict[str, Remote] = {}  # functions and classes read by name, per test cell
        self.lost: str | None = None

    def _proxy(self, h: channel.Handle) -> Remote:
        p = self.proxies.get(h.id)
        if p is None:
            p = self.proxies[h.id] = Remote(self, h.id, h.type_name)
        return p

    def _handle_of(self, obj) -> channel.Handle:
        if type(obj) is Remote and obj._judge is self:
            return channel.Handle(obj._hid, obj._type)
        raise channel.ChannelError(
            f"a judge-side {type(obj).__name__} cannot be sent to the sandbox: arguments are plain data "
            "(None, bool, int, float, str, bytes, list, tuple, dict, arrays, tensors) and remote handles")

    def exchange(self, message: dict, seconds: float, limit: float | None = None) -> Any:
        """Send ``message``; return the decoded reply (raises ``SandboxLost``)."""
        if self.lost:
            raise SandboxLost(self.lost)
        data = channel.encode(message, self._handle_of)  # ChannelError here is the test's own error
        timeout = seconds
        if self.deadline is not None:
            timeout = min(timeout, self.deadline - time.monotonic())
        try:
            self.sock.sendall(channel.frame(data))
            reply = channel.decode(self.reader.read(timeout=max(timeout, 0.0)), self._proxy)
        except channel.ChannelTimeout:
            self.lost = (f"the notebook ran past its limit and was stopped" if self.deadline is not None
                         and time.monotonic() >= self.deadline else
                         f"student code ran past its limit of {limit if limit is not None else seconds:g} s and did "
                         "not stop: the sandbox was stopped")
        except (channel.ChannelClosed, ConnectionError):
            self.lost = "the kernel died (the sandbox closed its channel) before the notebook finished"
        except (channel.ChannelError, OSError) as exc:
            self.lost = f"the sandbox broke the grading protocol: {exc}"
        else:
            return reply
        raise SandboxLost(self.lost)

    def request(self, op: str, **fields) -> Any:
        reply = self.exchange({"op": op, **fields}, self.request_seconds + self.grace, self.request_seconds)
        if type(reply) is not dict or len(reply) != 1 or next(iter(reply)) not in ("ok", "error"):
            self.lost = "the sandbox broke the grading protocol: a reply that is not {ok} or {error}"
            raise SandboxLost(self.lost)
        if "ok" in reply:
            return reply["ok"]
        err = reply["error"]
        if type(err) is not dict:
            self.lost = "the sandbox broke the grading protocol: a malformed error"
            raise SandboxLost(self.lost)
        cls = remote_exception_class(err.get("type"), err.get("bases"))
        message = err.get("message") if type(err.get("message")) is str else ""
        raise cls(message[:2000])

    def wait_ready(self, seconds: float) -> None:
        """The sandbox's first message: it started (Python and IPython loaded)."""
        if self.lost:
            raise SandboxLost(self.lost)
        timeout = seconds if self.deadline is None else min(seconds, self.deadline - time.monotonic())
        try:
            reply = channel.decode(self.reader.read(timeout=max(timeout, 0.0)))
        except channel.ChannelTimeout:
            self.lost = f"the sandbox did not start within {seconds:g} s"
        except (channel.ChannelClosed, ConnectionError):
            self.lost = "the kernel died (the sandbox closed its channel) before the notebook finished"
        except (channel.ChannelError, OSError) as exc:
            self.lost = f"the sandbox broke the grading protocol: {exc}"
        else:
            if reply == {"ready": True}:
                return
            self.lost = "the sandbox broke the grading protocol: its first message was not 'ready'"
        raise SandboxLost(self.lost)

    def refresh(self) -> None:
        """Forget the methods and names fetched so far (each test cell starts fresh)."""
        self.methods.clear()
        self.names.clear()

    def run_cell(self, source: str, seconds: float) -> list:
        """Run a student or locked cell in the sandbox; its outputs as the sandbox reported them
        (unchecked: ``autograder.sandbox`` checks and caps them)."""
        self.refresh()
        reply = self.exchange({"op": "run", "source": source}, seconds + self.grace, seconds)
        if type(reply) is not dict or type(reply.get("outputs")) is not list:
            self.lost = "the sandbox broke the grading protocol: a cell's reply without outputs"
            raise SandboxLost(self.lost)
        return reply["outputs"]


TRUSTED_PACKAGES = {"math", "cmath", "random", "statistics", "itertools", "functools", "operator", "collections",
                    "dataclasses", "json", "re", "string", "heapq", "bisect", "fractions", "decimal", "copy", "typing",
                    "numpy", "torch", "mlsys_kit", "hypothesis"}


def judge_module(name) -> Any:
    """The judge's own module ``name`` if it lies in a package a test may use, else None (the name
    comes from the sandbox, so a module that could make an assert pass, like ``unittest.mock``,
    must never be handed out)."""
    import importlib
    import sys

    if type(name) is not str or not name or any(not part.isidentifier() for part in name.split(".")):
        return None
    if name.split(".")[0] not in TRUSTED_PACKAGES:  # the sandbox names the module: only these may be given
        return None
    if name in sys.modules:
        return sys.modules[name]
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


class Namespace(dict):
    """The test cells' globals: the judge's own names first, then the sandbox's (read each time)."""

    def __init__(self, session: Session):
        super().__init__()
        self.session = session
        self["__builtins__"] = JUDGE_BUILTINS
        self["__name__"] = "__judge__"
        self["remote"] = self.remote
        self["remote_type"] = remote_type
        self["refresh"] = session.refresh

    def remote(self, value):
        """A copy of plain ``value`` made inside the sandbox; returns its handle."""
        return self.session.request("make", value=value)

    def __missing__(self, name: str):
        if name in JUDGE_BUILTINS or (name.startswith("__") and name.endswith("__")):
            raise KeyError(name)  # the interpreter goes on to the judge's builtins
        if name in self.session.names:
            return self.session.names[name]
        try:
            value = self.session.request("get", name=name)
        except RemoteError as exc:
            if isinstance(exc, NameError):
                raise KeyError(name) from None
            raise
        if type(value) is Remote and value._type in ("type", "ABCMeta"):
            # a class: if it is an exception class, the judge's own class of that name and builtin
            # base, the one an exception of that type raised in the sandbox arrives as
            info = self.session.request("classinfo", target=channel.Handle(value._hid, value._type))
            if type(info) is dict and type(info.get("name")) is str and type(info.get("bases")) is list:
                return remote_exception_class(info["name"], info["bases"])
        if type(value) is Remote and value._type == "module":
            # a module the notebook imported (torch, math): the judge's own import, never the
            # sandbox's (whose functions student code may have patched)
            modname = self.session.request("modname", target=channel.Handle(value._hid, value._type))
            own = judge_module(modname)
            if own is None:
                raise NameError(f"the test reads the module {name!r} from the notebook ({modname!r}), which the "
                                "judge does not import: import it in the test cell")
            return own
        if type(value) is Remote and value._type in CALLABLE_TYPES:
            self.session.names[name] = value
        return value


class Judge:
    """Runs checker and test cells for one submission against one sandbox session."""

    def __init__(self, session: Session, test_seconds: float = 60.0):
        self.session = session
        self.ns = Namespace(session)
        self.test_seconds = test_seconds
        self.notes: list[str] = []

    def _exec(self, source: str, name: str) -> tuple[str, BaseException | None]:
        code = compile(source, f"<{name}>", "exec")
        self.session.refresh()
        out = io.StringIO()
        error: BaseException | None = None
        use_alarm = threading.current_thread() is threading.main_thread()

        def on_alarm(signum, frame):
            raise TestTimeout(f"the test ran past its limit of {self.test_seconds:g} s in the judge")

        old = signal.signal(signal.SIGALRM, on_alarm) if use_alarm else None
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, self.test_seconds)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                exec(code, self.ns)
        except SandboxLost:
            raise
        except BaseException as exc:  # noqa: BLE001 - a failing test is an output, as in a kernel
            error = exc
        finally:
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, old)
        return out.getvalue(), error

    def run_checker(self, source: str, gid: str) -> None:
        text, error = self._exec(source, f"checker {gid}")
        if error is not None:
            self.notes.append(f"checker cell {gid!r} failed in the judge: {type(error).__name__}: {error}"[:300])

    def run_test(self, source: str, gid: str) -> list[dict]:
        """The nbgrader outputs of test cell ``gid``."""
        text, error = self._exec(source, f"test {gid}")
        outs: list[dict] = []
        if text:
            outs.append({"output_type": "stream", "name": "stdout", "text": text[:1 << 20]})
        if error is not None:
            outs.append(error_output(error, f"<test {gid}>"))
        return outs


def error_output(error: BaseException, filename: str) -> dict:
    """An nbgrader error output; the traceback keeps the test cell's own frames only."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == filename]
    tb = ["Traceback (most recent call last):\n"] + traceback.format_list(frames)
    where = " (raised in the sandbox by student code)" if isinstance(error, RemoteError) else ""
    try:
        msg = str(error)[:2000]
    except Exception:  # noqa: BLE001
        msg = "<message unreadable>"
    tb.append(f"{type(error).__name__}: {msg}{where}\n")
    return {"output_type": "error", "ename": type(error).__name__, "evalue": msg, "traceback": tb}
