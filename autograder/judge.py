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

import ast
import builtins
import contextlib
import dataclasses
import enum
import io
import keyword
import signal
import socket
import threading
import time
import traceback
from typing import Any, Iterable, NamedTuple

from autograder import channel
from autograder.differential import StudentRng, Variant, same_as_reference

JUDGE_BUILTINS = vars(builtins)


class SandboxLost(BaseException):
    """The sandbox died, stopped answering, or sent something that is not a valid message."""


class TestTimeout(BaseException):
    """A test cell ran past its time limit in the judge."""


class RemoteError(Exception):
    """Base of every exception that was raised in the sandbox (by student code)."""


# ---- the lab's names: what locked cells bound, here and (the same code) in the sandbox --------
def bound_names(source: str) -> list[str]:
    """The names a cell binds at its top level (assignments, defs, classes, imports, for/with
    targets), in order; what a locked cell gives the lab's namespace."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    out: list[str] = []

    def add(name: str) -> None:
        if name not in out:
            out.append(name)

    def targets(node) -> None:
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                add(n.id)

    def visit(stmts) -> None:
        for st in stmts:
            if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                add(st.name)
            elif isinstance(st, (ast.Import, ast.ImportFrom)):
                for a in st.names:
                    if a.name != "*":
                        add(a.asname or a.name.split(".")[0])
            elif isinstance(st, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                for t in (st.targets if isinstance(st, ast.Assign) else [st.target]):
                    targets(t)
            elif isinstance(st, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith)):
                if isinstance(st, (ast.For, ast.AsyncFor)):
                    targets(st.target)
                else:
                    for item in st.items:
                        if item.optional_vars is not None:
                            targets(item.optional_vars)
                visit(st.body)
                visit(getattr(st, "orelse", []))
            elif isinstance(st, (ast.If, ast.While)):
                visit(st.body)
                visit(st.orelse)
            elif isinstance(st, ast.Try):
                visit(st.body)
                for h in st.handlers:
                    if h.name:
                        add(h.name)
                    visit(h.body)
                visit(st.orelse)
                visit(st.finalbody)
            elif isinstance(st, ast.Expr) and isinstance(st.value, ast.NamedExpr):
                targets(st.value)
    visit(tree.body)
    return out


def lab_answers(solution_sources: Iterable[str]) -> list[str]:
    """The lab's answers: every name its solution cells (the instructor's, markers included) bind
    at top level. Only these resolve in the sandbox when a test reads them."""
    out: list[str] = []
    for src in solution_sources:
        for name in bound_names(src):
            if name not in out:
                out.append(name)
    return out


def lab_code(obj: Any, namespace: str | None) -> bool:
    """Is ``obj`` a class or function of the lab: defined by its cells (in the namespace called
    ``namespace``) or by mlsys_kit? (A standard-library class such as OrderedDict is plain data's
    business, not the lab's.)"""
    if not (isinstance(obj, type) or type(obj).__name__ == "function"):
        return False
    mod = getattr(obj, "__module__", None)
    return type(mod) is str and (mod == namespace or mod.startswith("mlsys_kit."))


class LabRegistry:
    """The classes and functions the lab's locked cells bound, by name (``lab:<name>``): the
    judge sends one of them by name, and the sandbox uses its own copy (the same locked cell ran
    there)."""

    def __init__(self) -> None:
        self.by_name: dict[str, Any] = {}
        self.refs: dict[int, str] = {}

    def record(self, names: Iterable[str], ns: dict) -> None:
        for name in names:
            obj = dict.get(ns, name)
            if lab_code(obj, dict.get(ns, "__name__")):
                self.by_name[name] = obj
                self.refs.setdefault(id(obj), f"lab:{name}")

    def ref(self, obj: Any) -> str | None:
        ref = self.refs.get(id(obj))
        return ref if ref is not None and self.by_name.get(ref[4:]) is obj else None

    def get(self, ref: str) -> Any:
        return self.by_name.get(ref[4:]) if ref.startswith("lab:") else None


def _frozen(cls: type) -> bool:
    params = getattr(cls, "__dataclass_params__", None)
    return dataclasses.is_dataclass(cls) and params is not None and params.frozen


def plain_base(value: Any) -> tuple[bool, Any]:
    """(True, its exact base value) for an enum member or numpy scalar that is a number or a
    string (a str enum crosses as its str); (False, None) otherwise."""
    if isinstance(value, enum.Enum):
        for base in (bool, int, float, str, bytes):
            if isinstance(value, base):
                return True, base(value.value) if base is not bool else bool(value)
        return False, None
    np = __import__("sys").modules.get("numpy")
    if np is not None and isinstance(value, np.generic) and isinstance(value, (np.number, np.bool_)):
        item = value.item()
        return (True, item) if type(item) in (bool, int, float) else (False, None)
    return False, None


class JudgeNodes(channel.Nodes):
    """The judge's side of crossing with identity (see ``channel.Nodes``): its containers, arrays,
    tensors and the lab's objects go as nodes; what comes back under their keys is applied to the
    same objects. Objects are made only of the lab's classes and of mlsys_kit classes the judge
    itself sent, and a student object inside one the judge made is refused (trusted code, the
    engine, relies on their fields)."""

    refuse_handles_in = True

    def __init__(self, registry: LabRegistry) -> None:
        super().__init__()
        self.registry = registry
        self.kit_classes: dict[str, type] = {}

    def class_ref(self, cls: type) -> str | None:
        ref = self.registry.ref(cls)
        if ref is None and type(cls.__module__) is str and cls.__module__.startswith("mlsys_kit.") \
                and "<locals>" not in cls.__qualname__:
            ref = f"kit:{cls.__module__}:{cls.__qualname__}"
            self.kit_classes[ref] = cls
        return ref

    def outgoing(self, v: Any) -> tuple | None:
        t = type(v)
        if t in channel._CONTAINER_TAGS or channel._is_ndarray(v) or channel._is_tensor(v):
            return ("node", self.key_for(v))
        ok, base = plain_base(v)
        if ok:
            return ("value", base)
        ref = self.registry.ref(v)
        if ref is not None:
            return ("code", ref)
        if isinstance(v, BaseException):
            return None
        ref = self.class_ref(t)
        if ref is None:
            return None
        if _frozen(t):
            return ("object", ref, channel.fields_of(v))
        return ("node", self.key_for(v))

    def describe(self, obj: Any) -> tuple[str, dict]:
        return self.class_ref(type(obj)), channel.fields_of(obj)

    def object_class(self, ref: str) -> type:
        cls = self.registry.get(ref) if ref.startswith("lab:") else self.kit_classes.get(ref)
        if not isinstance(cls, type) or issubclass(cls, BaseException):
            raise channel.ChannelError(f"the sandbox sent an object of {ref!r}: only the lab's own classes cross "
                                       "by value")
        return cls

    def code(self, ref: str) -> Any:
        obj = self.registry.get(ref)
        if obj is None:
            raise channel.ChannelError(f"the sandbox named {ref!r}, which is none of the lab's functions or classes")
        return obj


_REMOTE_CLASSES: dict[tuple[str, type], type] = {}


def remote_exception_class(type_name: str, bases: list, registry: LabRegistry | None = None) -> type:
    """A judge-side class for an exception raised in the sandbox: named like the remote one,
    deriving from the lab's own exception class named in its MRO if there is one (``OutOfBlocks``),
    else from its nearest builtin Exception base, and from ``RemoteError``."""
    base: type = Exception
    for name in bases if type(bases) is list else []:
        if type(name) is not str:
            continue
        lab = registry.by_name.get(name) if registry is not None else None
        if isinstance(lab, type) and issubclass(lab, Exception):
            base = lab
            break
        cls = JUDGE_BUILTINS.get(name)
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
        data = channel.encode(message, self._handle_of, nodes=self.nodes)  # ChannelError here is the test's own
        timeout = seconds
        if self.deadline is not None:
            timeout = min(timeout, self.deadline - time.monotonic())
        try:
            self.sock.sendall(channel.frame(data))
            reply = channel.decode(self.reader.read(timeout=max(timeout, 0.0)), self._proxy, self.nodes)
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
        """Forget the methods and names fetched so far, and every node key on both sides (each
        test cell starts fresh)."""
        self.methods.clear()
        self.names.clear()
        if self.nodes.objects or self.nodes.peer_has:
            self.nodes.forget()
            self.request("forget")

    def run_cell(self, source: str, seconds: float, binds: list[str] | None = None) -> list:
        """Run a student or locked cell in the sandbox; its outputs as the sandbox reported them
        (unchecked: ``autograder.sandbox`` checks and caps them). ``binds``: for a locked cell, the
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

    sys.modules.setdefault("__judge__", types.ModuleType("__judge__", "the judge's namespace (autograder.judge)"))


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


class PlanCell(NamedTuple):
    """One code cell of a submission, as the grader runs it (``autograder.sandbox.cell_plan``):
    ``kind`` is "student" (the sandbox), "locked" (the sandbox, then the judge unless ``judge``
    is False) or "test" (the judge)."""

    index: int
    kind: str
    gid: str
    code: str
    judge: bool = True


def drive(plan: Iterable[PlanCell], session: Session, judge: Judge, cell_seconds: float):
    """Run a submission's cells in notebook order; yields (cell, outputs): a test cell's outputs
    are the judge's, the others' are what the sandbox reported (unchecked)."""
    for cell in plan:
        if cell.kind == "test":
            yield cell, judge.run_test(cell.code, cell.gid)
            continue
        binds = bound_names(cell.code) if cell.kind == "locked" else None
        outs = session.run_cell(cell.code, cell_seconds, binds)
        if cell.kind == "locked" and cell.judge:
            judge.run_locked(cell.code, cell.gid, binds)
        yield cell, outs


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
