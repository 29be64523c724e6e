"""The process that runs one submission's cells, inside the sandbox (see ``autograder.sandbox``).

It reads ``{"cells": [...], "nonce": ..., "limits": {...}, "reference_modules": [...]}`` as JSON
on stdin, runs the cells in order and prints one line ``MLSYS-RESULT <nonce> <json>`` with each
cell's outputs and the flags it raised. Student and locked cells run through IPython (magics,
rich display) as in Jupyter. Test cells do NOT: they are compiled and ``exec``-ed directly in
the notebook namespace, so IPython's input and AST transformers, custom exception handlers and
event callbacks that a student installed never see or touch them. Before each test cell a guard
undoes what student code may have done to the interpreter (trace/profile functions, builtins,
``sys.modules`` and the attributes of the modules the tests import, names bound by locked
cells) and flags every change it undid. A PEP 578 audit hook, which Python code cannot remove,
flags frame and object-graph introspection from student code (the way to reach the grader's own
state) and imports of the lab's reference implementation.
"""

from __future__ import annotations

import builtins
import json
import os
import signal
import sys
import threading
import traceback
import types

STUDENT_FILE = "<ipython-input-"
PROBES = {"sys._getframe", "sys._current_frames", "gc.get_objects", "gc.get_referrers", "gc.get_referents",
          "ctypes.dlopen", "ctypes.dlsym", "ctypes.addressof", "object.__getattr__"}


class CellTimeout(Exception):
    pass


class Runner:
    def __init__(self, spec: dict):
        self.spec = spec
        self.limits = spec.get("limits", {})
        self.reference = tuple(spec.get("reference_modules", []))
        self.flags: list[str] = []
        self.in_student = False
        self._in_hook = False
        self.watched: dict[str, tuple[types.ModuleType, dict]] = {}
        self.locked_names: dict[str, object] = {}
        self.builtins0 = dict(builtins.__dict__)
        self.trace0 = (sys.gettrace(), sys.getprofile())

    # ---- flags --------------------------------------------------------------------------
    def flag(self, text: str) -> None:
        if text not in self.flags and len(self.flags) < 50:
            self.flags.append(text)

    def audit(self, event: str, args: tuple) -> None:
        if self._in_hook or not self.in_student:
            return
        self._in_hook = True
        try:
            if event == "import" and args and isinstance(args[0], str) and any(
                    args[0] == m or args[0].startswith(m + ".") for m in self.reference):
                self.flag(f"imports the reference implementation {args[0]}")
            elif event in PROBES:
                caller = sys._getframe(1)  # frame 0 is this hook; 1 is whoever called the audited function
                while caller and caller.f_code.co_filename.startswith("<frozen"):
                    caller = caller.f_back
                if caller and caller.f_code.co_filename.startswith(STUDENT_FILE):
                    self.flag(f"student code calls {event} (introspection of the grader is not allowed)")
        finally:
            self._in_hook = False

    # ---- the guard ----------------------------------------------------------------------
    def watch(self, name: str) -> None:
        try:
            mod = __import__(name, fromlist=["_"])
        except Exception:  # not a module (`from pkg import function`), or not importable: nothing to watch
            return
        if not isinstance(mod, types.ModuleType):
            return
        self.watched[name] = (mod, dict(vars(mod)))

    def ipython_hooks(self) -> dict:
        sh = self.shell
        return {"an input transformer": len(sh.input_transformers_cleanup) + len(sh.input_transformers_post),
                "an AST transformer": len(sh.ast_transformers),
                "a custom exception handler": len(sh.custom_exceptions),
                "an IPython event callback": sum(len(v) for v in sh.events.callbacks.values())}

    def guard(self, test_id: str) -> None:
        for what, n in self.ipython_hooks().items():
            if n > self.hooks0[what]:
                self.flag(f"student code installed {what} (tests do not run through IPython: no effect)")
        if (sys.gettrace(), sys.getprofile()) != self.trace0:
            self.flag("student code installed a trace/profile function (removed before the tests)")
            sys.settrace(self.trace0[0])
            sys.setprofile(self.trace0[1])
        threading.settrace(None)  # type: ignore[arg-type]
        threading.setprofile(None)  # type: ignore[arg-type]
        for key in set(builtins.__dict__) | set(self.builtins0):
            if key in IPYTHON_BUILTINS:
                continue
            if builtins.__dict__.get(key, _MISSING) is not self.builtins0.get(key, _MISSING):
                self.flag(f"student code changed builtins.{key} (restored before the tests)")
                if key in self.builtins0:
                    builtins.__dict__[key] = self.builtins0[key]
                else:
                    del builtins.__dict__[key]
        for name, (mod, attrs) in self.watched.items():
            if sys.modules.get(name) is not mod:
                self.flag(f"student code replaced sys.modules[{name!r}] (restored before the tests)")
                sys.modules[name] = mod
            current = vars(mod)
            for key in set(current) | set(attrs):
                if key.startswith("__") and key.endswith("__"):
                    continue
                new, old = current.get(key, _MISSING), attrs.get(key, _MISSING)
                if old is _MISSING and isinstance(new, types.ModuleType) and new.__name__ == f"{name}.{key}":
                    attrs[key] = new  # a submodule imported since: not tampering
                    continue
                if new is not old:
                    self.flag(f"student code monkeypatched {name}.{key} (restored before the tests)")
                    if key in attrs:
                        setattr(mod, key, attrs[key])
                    else:
                        delattr(mod, key)
        ns = self.shell.user_ns
        for key, value in self.locked_names.items():
            if ns.get(key, _MISSING) is not value:
                self.flag(f"student code rebound {key!r}, defined by a locked cell (restored before the tests)")
                ns[key] = value

    # ---- running cells ------------------------------------------------------------------
    def run(self) -> dict:
        from IPython.core.interactiveshell import InteractiveShell
        from IPython.utils.capture import capture_output

        from traitlets.config import Config

        cfg = Config()
        cfg.HistoryManager.enabled = False
        self.shell = InteractiveShell.instance(config=cfg)
        self.shell.showtraceback = self._showtraceback  # keep tracebacks out of captured stdout
        self.capture = capture_output
        self.hooks0 = self.ipython_hooks()
        for name in ["math", "random", "json", "dataclasses", "itertools", "collections", "functools", "operator",
                     *self.spec.get("test_imports", [])]:
            self.watch(name)
        sys.addaudithook(self.audit)
        results = []
        main_pid = os.getpid()
        for cell in self.spec["cells"]:
            if os.getpid() != main_pid:  # a child that student code forked: it must not run on as the grader
                os._exit(0)
            kind = cell["kind"]
            if kind == "test":
                self.guard(cell["id"])
                results.append(self.run_test(cell))
            else:
                self.in_student = kind == "student"
                try:
                    results.append(self.run_cell(cell))
                finally:
                    self.in_student = False
                if kind == "locked":
                    ns = self.shell.user_ns
                    self.locked_names.update({k: ns[k] for k in bound_names(cell["source"]) if k in ns})
        for key, value in list(self.shell.user_ns.items()):
            origin = getattr(value, "__module__", None) or (value.__name__ if isinstance(value, types.ModuleType) else "")
            if isinstance(origin, str) and any(origin == m or origin.startswith(m + ".") for m in self.reference) \
                    and key not in self.locked_names and not key.startswith("_"):
                self.flag(f"the notebook's {key!r} comes from the reference implementation {origin}")
        alive = [t.name for t in threading.enumerate()
                 if t is not threading.main_thread() and t.is_alive() and not t.name.startswith("IPython")]
        if alive:
            self.flag(f"student code left threads running: {', '.join(alive[:5])}")
        return {"outputs": results, "flags": self.flags}

    def _timed(self, fn):
        seconds = int(self.limits.get("cell_seconds", 60))

        def on_alarm(signum, frame):
            raise CellTimeout(f"cell ran past its limit of {seconds} s")

        signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(seconds)
        try:
            return fn()
        finally:
            signal.alarm(0)

    def _showtraceback(self, *args, **kwargs):
        pass

    def _outputs(self, cap, error: BaseException | None) -> list[dict]:
        limit = int(self.limits.get("output_bytes", 1 << 20))
        outs: list[dict] = []
        for name, text in (("stdout", cap.stdout), ("stderr", cap.stderr)):
            if text:
                if len(text) > limit:
                    text = text[:limit] + f"\n[output truncated at {limit} bytes]\n"
                    self.flag("a cell printed more than the output limit (truncated)")
                outs.append({"output_type": "stream", "name": name, "text": text})
        for out in cap.outputs[:20]:
            data = {k: v for k, v in out.data.items() if isinstance(v, str) and len(v) <= limit}
            if data:
                outs.append({"output_type": "display_data", "data": data, "metadata": {}})
        if error is not None:
            tb = traceback.format_exception(type(error), error, error.__traceback__)
            outs.append({"output_type": "error", "ename": type(error).__name__, "evalue": str(error)[:2000],
                         "traceback": [line[:2000] for line in tb[-20:]]})
        return outs

    def run_cell(self, cell: dict) -> list[dict]:
        error = None
        with self.capture() as cap:
            try:
                res = self._timed(lambda: self.shell.run_cell(cell["source"], store_history=True))
                error = res.error_in_exec or res.error_before_exec
            except BaseException as exc:  # the timeout, or SystemExit from student code
                error = exc
        return self._outputs(cap, error)

    def run_test(self, cell: dict) -> list[dict]:
        code = compile(cell["source"], f"<test {cell['id']}>", "exec")
        error = None
        with self.capture() as cap:
            try:
                self._timed(lambda: exec(code, self.shell.user_ns))
            except BaseException as exc:
                error = exc
        return self._outputs(cap, error)


_MISSING = object()
IPYTHON_BUILTINS = {"__IPYTHON__", "display", "get_ipython", "_", "__", "___"}


def bound_names(source: str) -> set[str]:
    """Top-level names a cell binds (assignments, defs, classes, imports)."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names if a.name != "*")
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                names.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def main() -> None:
    spec = json.loads(sys.stdin.read())
    sys.stdin.close()
    nonce = spec.pop("nonce")
    out = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # student output that escapes the capture goes nowhere
    main_pid = os.getpid()
    try:
        result = Runner(spec).run()
    except BaseException as exc:  # noqa: BLE001 - report, never crash silently
        result = {"fatal": f"{type(exc).__name__}: {exc}"}
    if os.getpid() != main_pid:
        os._exit(0)
    out.write(f"MLSYS-RESULT {nonce} {json.dumps(result)}\n")
    out.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
