"""The lab's names and what may cross by value (issue #23): the answers a lab's solution cells
define (the only names the judge reads from the sandbox), the classes and functions its locked
cells bind (they cross by name), the judge's side of crossing with identity (``JudgeNodes``), and
the judge's classes for exceptions raised in the sandbox."""

from __future__ import annotations

import ast
import builtins
import dataclasses
import enum
import keyword
from typing import Any, Iterable

from autograder.submission import channel
from autograder.submission.nodes import Nodes, fields_of

JUDGE_BUILTINS = vars(builtins)


class RemoteError(Exception):
    """Base of every exception that was raised in the sandbox (by student code)."""


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


class JudgeNodes(Nodes):
    """The judge's side of crossing with identity (see ``Nodes``): its containers, arrays,
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
            return ("object", ref, fields_of(v))
        return ("node", self.key_for(v))

    def describe(self, obj: Any) -> tuple[str, dict]:
        return self.class_ref(type(obj)), fields_of(obj)

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
