"""The sandbox's side of grading: run cells, answer the judge's questions (issue #12).

This process runs inside the sandbox (see ``autograder.sandbox``) as an unprivileged user and
holds NOTHING secret: no hidden test, no source notebook, no grade. It is started with one open
file descriptor besides /dev/null, its end of the channel (``autograder.channel``), and serves
requests until the channel closes:

* ``{"op": "run", "source": str}``: run a student or locked cell through IPython (magics, rich
  display, as in Jupyter) with a per-cell time limit; reply ``{"outputs": [...]}`` (captured,
  capped: the grader checks and caps them again, it trusts nothing from here).
* the judge's requests while a test cell runs in the judge: ``get`` (a name in the notebook's
  namespace), ``getattr``/``setattr``, ``getitem``/``setitem``, ``call`` (plain data + handles),
  ``len``, ``bool``, ``contains``, ``iter`` (materialised as a list), ``make`` (``remote(value)``:
  a copy of a plain value made here), ``release``; reply ``{"ok": value}`` or ``{"error": ...}``.

Values go back as plain data when they are exactly plain (``type(x) is int``, ...) and as
handles otherwise; the handle table is keyed by object identity, so one object always has the
same handle. Everything here can be rewritten by student code, and that is fine: the judge treats
whatever arrives as the student's answer, and never runs anything it receives.
"""

from __future__ import annotations

import os
import signal
import socket
import traceback

from autograder import channel

type, len, str, dict, list, isinstance, getattr, setattr = (  # noqa: A001 - see channel.py
    type, len, str, dict, list, isinstance, getattr, setattr)
OUTPUT_BYTES = 1 << 20
MIME_KEYS = 64  # per output, sent on; the grader keeps fewer and says so
BUILTIN_EXCEPTIONS = {n for n, v in vars(__import__("builtins")).items()
                      if isinstance(v, type) and issubclass(v, BaseException)}


class CellTimeout(Exception):
    pass


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

    def resolve(self, value):
        """Arguments from the judge: handles back to objects, recursively (containers are copies)."""
        t = type(value)
        if t is channel.Handle:
            if value.id not in self.by_id:
                raise LookupError(f"no object with handle {value.id} in the sandbox")
            return self.by_id[value.id]
        if t is list:
            return [self.resolve(v) for v in value]
        if t is tuple:
            return tuple(self.resolve(v) for v in value)
        if t is dict:
            return {k: self.resolve(v) for k, v in value.items()}
        return value


class Runner:
    def __init__(self, sock: socket.socket, cell_seconds: float, request_seconds: float, output_bytes: int):
        self.sock = sock
        self.reader = channel.FrameReader(sock, max_total=1 << 62)
        self.cell_seconds, self.request_seconds, self.output_bytes = cell_seconds, request_seconds, output_bytes
        self.handles = Handles()
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
        h = self.handles.resolve
        if op == "get":
            name = req["name"]
            if name not in self.ns:
                raise NameError(f"name {name!r} is not defined")
            return self.ns[name]
        if op == "make":
            return self.handles(h(req["value"]))
        if op == "release":
            return None
        if op == "modname":  # a module: the judge imports its own copy by this name
            mod = h(req["target"])
            return mod.__name__ if type(mod).__name__ == "module" and type(mod.__name__) is str else None
        if op == "classinfo":  # an exception class: the judge uses its own class of the same name
            cls = h(req["target"])
            if isinstance(cls, type) and issubclass(cls, BaseException):
                return {"name": cls.__name__, "bases": exception_bases(cls)}
            return None
        target = h(req["target"])
        if op == "getattr":
            return getattr(target, req["name"])
        if op == "setattr":
            setattr(target, req["name"], h(req["value"]))
            return None
        if op == "getitem":
            return target[h(req["key"])]
        if op == "setitem":
            target[h(req["key"])] = h(req["value"])
            return None
        if op == "call":
            return target(*h(req["args"]), **h(req["kwargs"]))
        if op == "len":
            return len(target)
        if op == "bool":
            return bool(target)
        if op == "contains":
            return h(req["value"]) in target
        if op == "iter":
            items = []
            for x in target:
                items.append(x)
                if len(items) > channel.MAX_ITEMS:
                    raise ValueError(f"more than {channel.MAX_ITEMS} items")
            return items
        raise ValueError(f"unknown request {op!r}")

    def reply(self, value) -> None:
        try:
            data = channel.encode(value, self.handles)
        except channel.ChannelError as exc:
            data = channel.encode({"error": {"type": "ValueError", "bases": ["ValueError"],
                                             "message": f"the value cannot be sent to the judge: {exc}"}})
        self.sock.sendall(channel.frame(data))

    def loop(self) -> None:
        main_pid = os.getpid()
        while True:
            try:
                req = channel.decode(self.reader.read())
            except channel.ChannelClosed:
                return
            if os.getpid() != main_pid:  # a child that student code forked must not serve the judge
                os._exit(0)
            if type(req) is not dict:
                continue
            if req.get("op") == "run":
                outs = self.run_cell(req.get("source", ""))
                if os.getpid() != main_pid:
                    os._exit(0)
                self.reply({"outputs": outs})
                continue
            try:
                value = self.timed(self.request_seconds, lambda: self.serve(req))
                if os.getpid() != main_pid:
                    os._exit(0)
                self.reply({"ok": value})
            except BaseException as exc:  # noqa: BLE001 - every failure goes back to the judge as data
                if os.getpid() != main_pid:
                    os._exit(0)
                self.reply({"error": exception_info(exc)})


def exception_bases(cls: type) -> list:
    return [c.__name__ for c in cls.__mro__ if c.__name__ in BUILTIN_EXCEPTIONS and c.__module__ == "builtins"]


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
