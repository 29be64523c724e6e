"""The trusted judge: runs a lab's locked, checker and test cells in the grader's process,
never student code (issues #12 and #23: "the sandbox observes, the judge judges"; "the judge owns
every name").

A lab's locked and checker cells run twice: in the sandbox, so that student code finds the helpers
it uses, and HERE, so that every helper, constant and class a test reads is the judge's own. Test
cells run only here, their code taken from the instructor's source notebook by grade id. In the
test cells' namespace:

* every name is the judge's (what locked cells and earlier tests bound, Python's builtins), except
  the lab's ANSWERS: the names its solution cells define (``lab_answers``). Only those are looked up
  in the sandbox, each time they are read; any other unknown name is a ``NameError`` here, never
  a value the student's notebook happens to hold;
* an answer that is plain data (None, bool, int, float, str, bytes, list, tuple, dict, set, deque,
  numpy arrays, torch tensors; and the standard library's and numpy's subclasses of plain types,
  such as str enums and numpy scalars, as their exact base value) arrives as a COPY built here, so
  ``type(x) is int``, ``==`` and ``math.isclose`` are the judge's; an object of a class the
  student defined arrives as a handle (``Remote``): calls, attributes, items, ``len``, ``bool``,
  ``in`` and iteration go over the channel; ``==``/``is`` between handles is identity of the remote
  object; there is no arithmetic or ordering on handles;
* arguments go BY VALUE-RESULT: the judge's lists, dicts, sets, deques, arrays, tensors and the lab's
  own objects (instances of classes the locked cells define or import from ``mlsys_kit``) are sent
  as mirrors, and when the call returns (or raises), what student code did to them is copied back
  into the very objects the test holds (``JudgeNodes``), so a test sees an argument mutated in
  place, as it would in the student's kernel; the lab's functions and classes go by name (the
  sandbox's own copy of the same locked cell). Anything else of the judge's (a lambda, a module)
  is refused with a clear error.
* an exception raised in the sandbox arrives as a judge-side exception of the nearest builtin
  class, or of the lab's own exception class of that name (``except OutOfBlocks`` works), marked
  ``RemoteError``.

Where a test needs a whole run with student code inside it (a scheduler in the engine, a training
loop), the loop is the lab's locked helper, so it runs HERE and calls the student's functions
through their handles at each step; nothing the sandbox reports about a run is believed.

Each test cell yields nbgrader outputs (its printed text, and an error output if it raised), so
nbgrader's ``SaveAutoGrades`` scores it exactly as it scores a cell run in a kernel. If the
sandbox dies, stops answering, or breaks the protocol, ``SandboxLost`` (a ``BaseException``, so
no ``except Exception`` in a test can swallow it) ends the submission with that reason.
"""

from __future__ import annotations

import contextlib
import io
import signal
import socket
import threading
import time
import traceback
from typing import Any, Iterable

from autograder.submission import channel
from autograder.submission.decoder import decode
from autograder.submission.encoder import encode
from autograder.submission.names import (JUDGE_BUILTINS, JudgeNodes, LabRegistry, RemoteError, bound_names,
                                         remote_exception_class)
from autograder.submission.differential import StudentRng, Variant, same_as_reference

class SandboxLost(BaseException):
    """The sandbox died, stopped answering, or sent something that is not a valid message."""


class TestTimeout(BaseException):
    """A test cell ran past its time limit in the judge."""


CALLABLE_TYPES = ("method", "function", "builtin_function_or_method", "type", "ABCMeta")


class Remote:
    """A handle to an object in the sandbox (see the module docstring). Within one test cell, a
    method or a function/class read by name is fetched once (the cells between tests may rebind
    them)."""

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

    def __copy__(self):
        return self  # a handle names the student's object: a copy names the same one

    def __deepcopy__(self, memo):
        return self


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
        self.registry = LabRegistry()
        self.nodes = JudgeNodes(self.registry)
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
            "(None, bool, int, float, str, bytes, list, tuple, dict, set, deque, arrays, tensors), the lab's own "
            "objects, functions and classes (those its locked cells define or import), and remote handles")

    def exchange(self, message: dict, seconds: float, limit: float | None = None) -> Any:
        """Send ``message``; return the decoded reply (raises ``SandboxLost``)."""
        if self.lost:
            raise SandboxLost(self.lost)
        data = encode(message, self._handle_of, nodes=self.nodes)  # ChannelError here is the test's own
        timeout = seconds
        if self.deadline is not None:
            timeout = min(timeout, self.deadline - time.monotonic())
        try:
            self.sock.sendall(channel.frame(data))
            reply = decode(self.reader.read(timeout=max(timeout, 0.0)), self._proxy, self.nodes)
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
        message = {"op": op, **fields}
        self.nodes.envelope = {id(message), id(fields.get("args")), id(fields.get("kwargs"))}
        try:
            reply = self.exchange(message, self.request_seconds + self.grace, self.request_seconds)
        finally:
            self.nodes.envelope = set()
        if type(reply) is not dict or len(reply) != 1 or next(iter(reply)) not in ("ok", "error"):
            self.lost = "the sandbox broke the grading protocol: a reply that is not {ok} or {error}"
            raise SandboxLost(self.lost)
        if "ok" in reply:
            return reply["ok"]
        err = reply["error"]
        if type(err) is not dict:
            self.lost = "the sandbox broke the grading protocol: a malformed error"
            raise SandboxLost(self.lost)
        if err.get("forget") is True:  # the sandbox could not send its answer: it dropped every key
            self.nodes.forget()
        cls = remote_exception_class(err.get("type"), err.get("bases"), self.registry)
        message = err.get("message") if type(err.get("message")) is str else ""
        raise cls(message[:2000])

    def wait_ready(self, seconds: float) -> None:
        """The sandbox's first message: it started (Python and IPython loaded)."""
        if self.lost:
            raise SandboxLost(self.lost)
        timeout = seconds if self.deadline is None else min(seconds, self.deadline - time.monotonic())
        try:
            reply = decode(self.reader.read(timeout=max(timeout, 0.0)))
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
        """Forget the methods and names fetched so far, and every node key on both sides (each
        test cell starts fresh)."""
        self.methods.clear()
        self.names.clear()
        if self.nodes.objects or self.nodes.peer_has:
            self.nodes.forget()
            self.request("forget")

    def run_cell(self, source: str, seconds: float, binds: list[str] | None = None) -> list:
        """Run a student or locked cell in the sandbox; its outputs as the sandbox reported them
        (unchecked: ``autograder.submission.sandbox`` checks and caps them). ``binds``: for a locked cell, the
        names it binds, which the sandbox records as the lab's (``LabRegistry``)."""
        self.methods.clear()
        self.names.clear()
        message: dict = {"op": "run", "source": source}
        if binds is not None:
            message["binds"] = list(binds)
        self.nodes.envelope = {id(message), id(message.get("binds"))}
        try:
            reply = self.exchange(message, seconds + self.grace, seconds)
        finally:
            self.nodes.envelope = set()
        if type(reply) is not dict or type(reply.get("outputs")) is not list:
            self.lost = "the sandbox broke the grading protocol: a cell's reply without outputs"
            raise SandboxLost(self.lost)
        return reply["outputs"]


def _judge_module() -> None:
    """Classes a locked cell defines here say ``__module__ == "__judge__"``; ``dataclasses`` (and
    ``typing``) look that module up in ``sys.modules``: give them an empty one."""
    import sys
    import types

    sys.modules.setdefault("__judge__", types.ModuleType("__judge__", "the judge's namespace (autograder.submission.judge)"))


class Namespace(dict):
    """The judge's namespace for locked, checker and test cells: its own names, and the lab's
    answers read from the sandbox each time (nothing else is ever read from there)."""

    def __init__(self, session: Session, answers: Iterable[str] = ()):
        super().__init__()
        self.session = session
        self.answers = frozenset(answers)
        _judge_module()
        self["__builtins__"] = JUDGE_BUILTINS
        self["__name__"] = "__judge__"

    def __missing__(self, name: str):
        if name not in self.answers:
            raise KeyError(name)  # the interpreter goes on to the judge's builtins, then NameError
        if name in self.session.names:
            return self.session.names[name]
        try:
            value = self.session.request("get", name=name)
        except RemoteError as exc:
            if isinstance(exc, NameError):
                raise KeyError(name) from None
            raise
        if type(value) is Remote and value._type in CALLABLE_TYPES:
            self.session.names[name] = value
        return value


class Judge:
    """Runs locked, checker and test cells for one submission against one sandbox session.
    ``answers``: the names the lab's solution cells define (``lab_answers``)."""

    def __init__(self, session: Session, test_seconds: float = 60.0, answers: Iterable[str] = (),
                 variant: Variant | None = None):
        self.session = session
        self.ns = Namespace(session, answers)
        self.test_seconds = test_seconds
        self.notes: list[str] = []
        self.variant = variant or Variant(b"", "", "")
        self.rng = StudentRng(self.variant)
        self.ns["student_rng"] = self.rng  # hidden tests draw their inputs from the student's own variant
        self.ns["same_as_reference"] = same_as_reference

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

    def run_locked(self, source: str, gid: str, binds: list[str] | None = None) -> None:
        """A locked (or checker) cell, here: what it binds is the judge's; the classes and
        functions among it are the lab's (``LabRegistry``)."""
        _text, error = self._exec(source, f"locked {gid}")
        self.session.registry.record(bound_names(source) if binds is None else binds, self.ns)
        if error is not None:
            self.notes.append(f"locked cell {gid!r} failed in the judge: {type(error).__name__}: {error}"[:300])


    def run_test(self, source: str, gid: str) -> list[dict]:
        """The nbgrader outputs of test cell ``gid``."""
        self.rng.cell = gid
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
