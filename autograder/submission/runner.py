"""The sandbox's side of grading: run cells, answer the judge's questions (issues #12, #23).

This process runs inside the sandbox (see ``autograder.submission.sandbox``) as an unprivileged user and
holds NOTHING secret: no hidden test, no source notebook, no grade, no reference. It is started
with one open file descriptor besides /dev/null, its end of the channel (``autograder.submission.channel``),
and serves requests until the channel closes:

* ``{"op": "run", "source": str, "binds": [names]?}``: run a student or locked cell through
  IPython (magics, rich display, as in Jupyter) with a per-cell time limit; reply
  ``{"outputs": [...]}`` (captured, capped: the grader checks and caps them again, it trusts
  nothing from here). ``binds`` marks a locked cell: the classes and functions it binds are
  recorded as the lab's (``lab:<name>``), so that the judge can send one by name.
* the judge's requests while a test cell runs in the judge: ``get`` (one of the lab's answers),
  ``getattr``/``setattr``, ``getitem``/``setitem``, ``call``, ``len``, ``bool``, ``contains``,
  ``iter`` (materialised as a list), ``make`` (a value made here), ``forget`` (drop the mirrors);
  reply ``{"sync": [...], "ok": value}`` or ``{"sync": [...], "error": ...}``.

Arguments arrive by value-result: the judge's containers, arrays, tensors and lab objects come as
nodes, kept here as MIRRORS (``Mirrors``, one per key, updated in place when the judge sends them
again); after the request, the state of every mirror it touched goes back in ``sync``. Values go
to the judge as plain data when they are exactly plain, as their exact base value when they are
the standard library's or numpy's subclasses of plain types (str/int enums, numpy scalars), as
objects when they are the lab's (a class a locked cell bound, or an mlsys_kit class the judge has
sent), and as handles otherwise (a class the student defined stays a handle; the handle table is
keyed by object identity, so one object always has the same handle). What student code prints
while serving the judge goes nowhere. Everything here can be rewritten by student code, and that is
fine: the judge treats whatever arrives as the student's answer, and never runs anything it
receives.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import signal
import socket
import sys
import traceback

from autograder.submission import channel
from autograder.submission.decoder import decode
from autograder.submission.encoder import encode
from autograder.submission.nodes import SANDBOX_KEYS, Nodes, fields_of

type, len, str, dict, list, isinstance, getattr, setattr = (  # noqa: A001 - see channel.py
    type, len, str, dict, list, isinstance, getattr, setattr)
OUTPUT_BYTES = 1 << 20
MIME_KEYS = 64  # per output, sent on; the grader keeps fewer and says so
BUILTIN_EXCEPTIONS = {n for n, v in vars(__import__("builtins")).items()
                      if isinstance(v, type) and issubclass(v, BaseException)}


class CellTimeout(Exception):
    pass


STDLIB = frozenset(sys.stdlib_module_names)


def plain_value(obj):
    """(True, exact base value) for the standard library's and numpy's subclasses of plain types
    (str/int enums, numpy scalars); (False, None) for anything else (a class the student defines
    stays a handle)."""
    t = type(obj)
    mod = getattr(t, "__module__", "") or ""
    root = mod.split(".")[0] if isinstance(mod, str) else ""
    np = sys.modules.get("numpy")
    if np is not None and isinstance(obj, np.generic) and isinstance(obj, (np.number, np.bool_)):
        item = obj.item()
        return (True, item) if type(item) in (bool, int, float) else (False, None)
    import enum

    if not (isinstance(obj, enum.Enum) or root in STDLIB or root == "numpy"):
        return False, None
    if isinstance(obj, bool):
        return True, bool(obj)
    if isinstance(obj, int):
        return True, int.__index__(obj)
    if isinstance(obj, float):
        return True, float.__float__(obj)
    if isinstance(obj, str):
        return True, str.__getitem__(obj, slice(None))
    if isinstance(obj, bytes):
        return True, bytes.__getitem__(obj, slice(None))
    return False, None


class Mirrors(Nodes):
    """The sandbox's side of crossing with identity (``Nodes``): what the judge sends is
    kept here as a mirror under the judge's key (filled in place when it comes again); what
    student code returns gets a key of the sandbox's; every reply carries what changed."""

    own_keys = range(SANDBOX_KEYS, 1 << 64)
    refuse_handles_out = True  # the judge refuses them inside its own objects: say so here, as the test's error

    def __init__(self) -> None:
        super().__init__()
        self.lab: dict[str, object] = {}      # name -> class or function a locked cell bound
        self.lab_refs: dict[int, str] = {}    # id(that object) -> "lab:<name>"
        self.kit: dict[str, type] = {}        # "kit:<module>:<qualname>" -> class received
        self.kit_refs: dict[int, str] = {}

    def record(self, names, ns) -> None:
        for name in names if type(names) is list else []:
            obj = ns.get(name) if type(name) is str else None
            mod = getattr(obj, "__module__", None) if isinstance(obj, type) or type(obj).__name__ == "function" else None
            if type(mod) is str and (mod == ns.get("__name__") or mod.startswith("mlsys_kit.")):
                self.lab[name] = obj
                self.lab_refs.setdefault(id(obj), f"lab:{name}")

    # -- receiving --------------------------------------------------------------------------------
    def object_class(self, ref):
        if ref.startswith("lab:") and isinstance(self.lab.get(ref[4:]), type):
            return self.lab[ref[4:]]
        if ref.startswith("kit:") and ref.count(":") == 2:
            cls = self.kit.get(ref)
            if cls is None:
                _, module, qualname = ref.split(":")
                if not module.startswith("mlsys_kit."):
                    raise channel.ChannelError(f"{ref!r} is not a class of mlsys_kit")
                cls = importlib.import_module(module)
                for part in qualname.split("."):
                    cls = getattr(cls, part)
                if not isinstance(cls, type):
                    raise channel.ChannelError(f"{ref!r} is not a class")
                self.kit[ref] = cls
                self.kit_refs[id(cls)] = ref
            return cls
        raise channel.ChannelError(f"this sandbox has no class {ref!r} (the lab's locked cells bind its classes)")

    def code(self, ref):
        if ref.startswith("lab:") and ref[4:] in self.lab:
            return self.lab[ref[4:]]
        raise channel.ChannelError(f"this sandbox has no function or class {ref!r}")

    # -- sending -------------------------------------------------------------------------------------
    def class_ref(self, cls):
        return self.lab_refs.get(id(cls)) or self.kit_refs.get(id(cls))

    def outgoing(self, v):
        t = type(v)
        key = self.keys.get(id(v))
        if key is not None and self.objects.get(key) is v:
            return ("node", key)
        if t in channel._CONTAINER_TAGS or channel._is_ndarray(v) or channel._is_tensor(v):
            return ("node", self.key_for(v))
        ok, base = plain_value(v)
        if ok:
            return ("value", base)
        ref = self.lab_refs.get(id(v))
        if ref is not None:
            return ("code", ref)
        ref = self.class_ref(t)
        if ref is None or isinstance(v, BaseException):
            return None
        params = getattr(t, "__dataclass_params__", None)
        if params is not None and params.frozen:
            return ("object", ref, fields_of(v))
        return ("node", self.key_for(v))

    def describe(self, obj):
        ref = self.class_ref(type(obj))
        if ref is None:
            raise channel.ChannelError(f"a {type(obj).__qualname__} cannot be sent back as a lab object")
        return ref, fields_of(obj)


class Handles:
    """Objects the judge holds references to, keyed by identity (the same object, the same id)."""

    def __init__(self):
        self.by_id: dict[int, object] = {}
        self.ids: dict[int, int] = {}  # id(obj) -> handle id; objects are kept alive by by_id
        self.next = 1

    def __call__(self, obj) -> channel.Handle:
        hid = self.ids.get(id(obj))
        if hid is None or self.by_id.get(hid) is not obj:
            hid = self.next
            self.next += 1
            self.by_id[hid] = obj
            self.ids[id(obj)] = hid
        name = type(obj).__qualname__
        return channel.Handle(hid, name if isinstance(name, str) else "object")

    def get(self, h: channel.Handle):
        """The object a handle from the judge refers to."""
        if h.id not in self.by_id:
            raise channel.ChannelError(f"no object with handle {h.id} in the sandbox")
        return self.by_id[h.id]


class _Sink(io.TextIOBase):
    """Where student code's printing goes while it serves the judge: nowhere."""

    def write(self, text):
        return len(text) if isinstance(text, str) else 0


class Runner:
    def __init__(self, sock: socket.socket, cell_seconds: float, request_seconds: float, output_bytes: int):
        self.sock = sock
        self.reader = channel.FrameReader(sock, max_total=1 << 62)
        self.cell_seconds, self.request_seconds, self.output_bytes = cell_seconds, request_seconds, output_bytes
        self.handles = Handles()
        self.mirrors = Mirrors()
        self.main_pid = os.getpid()
        from IPython.core.interactiveshell import InteractiveShell
        from IPython.utils.capture import capture_output
        from traitlets.config import Config

        cfg = Config()
        cfg.HistoryManager.enabled = False
        self.shell = InteractiveShell.instance(config=cfg)
        self.shell.showtraceback = lambda *a, **k: None  # errors are reported as outputs
        self.capture = capture_output
        self.ns = self.shell.user_ns

    # ---- time limits --------------------------------------------------------------------
    def timed(self, seconds: float, fn):
        def on_alarm(signum, frame):
            raise CellTimeout(f"ran past its limit of {seconds:g} s")

        signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return fn()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    # ---- cells --------------------------------------------------------------------------
    def run_cell(self, source: str) -> list[dict]:
        error = None
        with self.capture() as cap:
            try:
                res = self.timed(self.cell_seconds, lambda: self.shell.run_cell(source, store_history=True))
                error = res.error_in_exec or res.error_before_exec
            except BaseException as exc:  # the timeout, or SystemExit from student code
                error = exc
        outs: list[dict] = []
        limit = self.output_bytes
        for name, text in (("stdout", cap.stdout), ("stderr", cap.stderr)):
            if text:
                if len(text) > limit:
                    text = text[:limit] + f"\n[output truncated at {limit} bytes]\n"
                outs.append({"output_type": "stream", "name": name, "text": text})
        budget = limit
        for out in cap.outputs[:20]:
            data = {}
            for k, v in list(out.data.items())[:MIME_KEYS]:
                if type(k) is str and type(v) is str:
                    data[k] = v if len(v) <= budget else ""
                    budget -= len(data[k])
            if data:
                outs.append({"output_type": "display_data", "data": data})
        if error is not None:
            outs.append(error_output(error))
        return outs

    # ---- the judge's requests -----------------------------------------------------------
    def serve(self, req: dict):
        op = req.get("op")
        if op == "get":
            name = req.get("name")
            if type(name) is not str or name not in self.ns:
                raise NameError(f"name {name!r} is not defined")
            return self.ns[name]
        if op == "forget":
            self.mirrors.forget()
            return None
        target = req.get("target")
        if op == "getattr":
            return getattr(target, req["name"])
        if op == "setattr":
            setattr(target, req["name"], req["value"])
            return None
        if op == "getitem":
            return target[req["key"]]
        if op == "setitem":
            target[req["key"]] = req["value"]
            return None
        if op == "call":
            return target(*req["args"], **req["kwargs"])
        if op == "len":
            return len(target)
        if op == "bool":
            return bool(target)
        if op == "contains":
            return req["value"] in target
        if op == "iter":
            items = []
            for x in target:
                items.append(x)
                if len(items) > channel.MAX_ITEMS:
                    raise ValueError(f"more than {channel.MAX_ITEMS} items")
            return items
        raise ValueError(f"unknown request {op!r}")

    def reply(self, message: dict) -> None:
        """Send ``message`` (with every node that changed here since it last crossed)."""
        self.mirrors.envelope = {id(message), id(message.get("error"))}
        try:
            data = encode(message, self.handles, nodes=self.mirrors)
        except (channel.ChannelError, RecursionError) as exc:
            self.mirrors.forget()  # what crossed is unknown now: the judge forgets too (it ends the test)
            data = encode({"error": {"type": "ValueError", "bases": ["ValueError"], "forget": True,
                                             "message": f"the value cannot be sent to the judge: {exc}"}})
        finally:
            self.mirrors.envelope = set()
        self.sock.sendall(channel.frame(data))

    def answer(self, req) -> None:
        """Serve one request of the judge's (printing silenced) and reply."""
        sink = _Sink()
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                value = self.timed(self.request_seconds, lambda: self.serve(req))
            result = {"ok": value}
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the judge as data
            result = {"error": exception_info(exc)}
        if os.getpid() != self.main_pid:
            os._exit(0)
        self.reply(result)

    def loop(self) -> None:
        self.main_pid = os.getpid()
        while True:
            try:
                frame = self.reader.read()
            except channel.ChannelClosed:
                return
            if os.getpid() != self.main_pid:  # a child that student code forked must not serve the judge
                os._exit(0)
            try:
                req = decode(frame, self.handles.get, self.mirrors)
            except (channel.ChannelError, ImportError, AttributeError) as exc:
                self.reply({"error": exception_info(ValueError(f"the judge's request could not be read here: {exc}"))})
                continue
            if type(req) is not dict:
                continue
            if req.get("op") == "run":
                outs = self.run_cell(req.get("source", ""))
                if os.getpid() != self.main_pid:
                    os._exit(0)
                if "binds" in req:
                    self.mirrors.record(req["binds"], self.ns)
                self.reply({"outputs": outs})
                continue
            self.answer(req)


def exception_bases(cls: type) -> list:
    """The names of the exception's classes, most derived first: the lab's own (the judge maps one
    it defines, like ``OutOfBlocks``, to its own class) and Python's builtin ones."""
    return [c.__name__ for c in cls.__mro__ if isinstance(c.__name__, str) and (
        c.__module__ != "builtins" or c.__name__ in BUILTIN_EXCEPTIONS)][:32]


def exception_info(exc: BaseException) -> dict:
    bases = exception_bases(type(exc))
    try:
        message = str(exc)[:2000]
    except Exception:  # noqa: BLE001
        message = "<the exception's message could not be read>"
    return {"type": type(exc).__name__[:200], "bases": bases, "message": message}


def error_output(error: BaseException) -> dict:
    tb = traceback.format_exception(type(error), error, error.__traceback__)
    return {"output_type": "error", "ename": type(error).__name__, "evalue": str(error)[:2000],
            "traceback": [line[:2000] for line in tb[-20:]]}


def main() -> None:
    fd = int(os.environ.pop("MLSYS_CHANNEL_FD"))
    cell = float(os.environ.pop("MLSYS_CELL_SECONDS", "60"))
    request = float(os.environ.pop("MLSYS_REQUEST_SECONDS", "30"))
    output = int(os.environ.pop("MLSYS_OUTPUT_BYTES", str(OUTPUT_BYTES)))
    os.closerange(3, fd)  # no inherited descriptor but the channel (and 0-2, /dev/null below)
    os.closerange(fd + 1, 1 << 16)
    sock = socket.socket(fileno=fd)
    os.set_inheritable(fd, False)
    runner = Runner(sock, cell, request, output)  # imports IPython: errors still reach the grader's log
    devnull = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):  # from here on, output that escapes the capture goes nowhere
        os.dup2(devnull, target)
    os.close(devnull)
    runner.reply({"ready": True})  # the grader's clock for cells starts now
    runner.loop()
    os._exit(0)


if __name__ == "__main__":
    main()
