"""Identity across the channel (issue #23): the node tables each side keeps, and how a lab object
crosses (its class reference and its fields). ``encoder`` and ``decoder`` use them; the judge's
``JudgeNodes`` and the runner's ``Mirrors`` decide what may cross."""

from __future__ import annotations

from typing import Any, Callable

from autograder.submission.channel import _CONTAINER_TAGS, _DICTS, ChannelError, _is_ndarray, _is_tensor

# the builtins this module uses, bound here: code in the same process that rebinds builtins.type
# (student code, in the sandbox) does not change what the codec does
type, len, id, int, float, str, bytes, list, tuple, dict, isinstance = (  # noqa: A001
    type, len, id, int, float, str, bytes, list, tuple, dict, isinstance)

SANDBOX_KEYS = 1 << 63  # node keys: the judge makes them below this, the sandbox at or above it


class Nodes:
    """Identity across the channel, on one side (the judge's ``autograder.submission.judge.JudgeNodes`` and
    the runner's ``autograder.submission.runner.Mirrors`` decide what may cross).

    Every mutable value that crosses (list, dict, set, deque, array, tensor, and an object of the
    lab's own classes) is a NODE with a key, made by the side it came from; both sides keep
    key <-> object while a test cell runs, so the same object always arrives as the same object.
    Messages strictly alternate (the judge asks, the sandbox answers), and each one carries, with
    its value, every known node that changed on the sender's side since it last crossed: a
    student function that appends to a list the test passed, or a test that writes into a tensor
    a student function returned, is seen by the other side at the next crossing, as in one
    process. A node that did not change goes as a reference. A key the sender no longer holds
    anywhere (only this table referred to it) is dropped, and the other side is told.

    A lab object crosses as its class reference (``lab:<name>`` for a class a locked cell binds,
    ``kit:<module>:<qualname>`` for an mlsys_kit class) and its fields (``vars()`` and slots, or
    only the names in the class's ``_mirror_fields`` when it declares which fields cross)."""

    own_keys = range(1, SANDBOX_KEYS)  # the keys this side makes
    refuse_handles_out = False  # refuse to send a handle inside a node the judge made?
    refuse_handles_in = False   # refuse to receive one there?

    def __init__(self) -> None:
        self.objects: dict[int, Any] = {}  # key -> the object this side holds under it
        self.keys: dict[int, int] = {}     # id(object) -> key
        self.snaps: dict[int, tuple] = {}  # key -> shallow content when the node last crossed
        self.peer_has: set[int] = set()    # keys the other side holds (it was told of them)
        self.dropped: list[int] = []       # keys dropped here, not yet told
        self.envelope: set[int] = set()    # ids of a message's own containers: always plain
        self.next = self.own_keys.start

    def forget(self) -> None:
        """Drop every key (each test cell starts with none)."""
        self.objects.clear()
        self.keys.clear()
        self.snaps.clear()
        self.peer_has.clear()
        self.dropped.clear()

    def key_for(self, obj: Any) -> int:
        """The key of ``obj``: the one it crossed with, or a new one of this side's."""
        k = self.keys.get(id(obj))
        if k is None or self.objects.get(k) is not obj:
            k = self.next
            self.next += 1
            self.register(k, obj)
        return k

    def register(self, key: int, obj: Any) -> None:
        old = self.objects.get(key)
        if old is not None and old is not obj:
            self.keys.pop(id(old), None)
        self.objects[key] = obj
        self.keys[id(obj)] = key

    def lookup(self, key: int) -> Any:
        return self.objects.get(key)

    # -- what changed since the last crossing ----------------------------------------------------
    @staticmethod
    def shallow(v: Any) -> tuple:
        """A node's content one level deep: the objects in it, in order (held, so that comparing
        them by identity later is sound), or for an array or tensor its version and buffer."""
        t = type(v)
        if t in _DICTS:
            return tuple(x for kv in v.items() for x in kv)
        if t in _CONTAINER_TAGS:
            return tuple(v)
        if _is_tensor(v):
            return (v._version, v.data_ptr(), tuple(v.shape), str(v.dtype))
        if _is_ndarray(v):
            return (v.shape, v.dtype.str, v.tobytes())
        get = _FIELD_GETTERS.get(t)
        if get is None:
            get = _field_getter(t)
        return get(v)

    @staticmethod
    def same(a: tuple, b: tuple) -> bool:
        """Did a node keep its content? The same objects in the same places (equal scalars that
        are different objects count as a change: it only costs a resend)."""
        return len(a) == len(b) and all(map(_is, a, b))

    def scan(self) -> dict[int, tuple]:
        """{key: shallow content} of the known nodes that changed since they last crossed; keys
        whose object nothing but these tables refers to any more are dropped (and told)."""
        getrefcount = __import__("sys").getrefcount
        changed = {}
        for key in list(self.objects):
            obj = self.objects[key]
            if getrefcount(obj) <= 3:  # this table, ``obj`` and the call's argument
                del self.objects[key]
                self.keys.pop(id(obj), None)
                self.snaps.pop(key, None)
                self.peer_has.discard(key)
                self.dropped.append(key)
                continue
            snap = self.shallow(obj)
            old = self.snaps.get(key)
            if old is None or not (old == snap if _is_tensor(obj) or _is_ndarray(obj) else self.same(old, snap)):
                changed[key] = snap
        return changed

    def crossed(self, key: int, obj: Any, snap: tuple | None = None) -> None:
        """``obj`` (known under ``key``) just crossed with its content: both sides hold it now."""
        self.snaps[key] = self.shallow(obj) if snap is None else snap
        self.peer_has.add(key)

    def peer_dropped(self, keys: list[int]) -> None:
        for k in keys:
            self.peer_has.discard(k)

    # -- what the subclasses decide ----------------------------------------------------------------
    def outgoing(self, value: Any) -> tuple | None:
        """("node", key), ("object", ref, fields), ("code", ref), ("value", plain) or None (then a
        handle, or an error)."""
        return None

    def describe(self, obj: Any) -> tuple[str, dict]:
        """(class reference, fields) of a lab object sent as a node."""
        raise ChannelError(f"a {type(obj).__name__} cannot be sent")

    def object_class(self, ref: str) -> type:
        raise ChannelError(f"objects of {ref!r} cannot be received here")

    def code(self, ref: str) -> Any:
        raise ChannelError(f"code {ref!r} cannot be received here")


def fields_of(obj: Any) -> dict:
    """The fields a lab object crosses with: its ``_mirror_fields`` if its class names them, else
    its ``__dict__`` and ``__slots__``."""
    names = _field_names(type(obj))
    if names is None:
        return dict(vars(obj))
    out = dict(vars(obj)) if names[1] else {}
    for n in names[0]:
        try:
            out[n] = getattr(obj, n)
        except AttributeError:
            pass
    return out


_FIELD_NAMES: dict[type, tuple | None] = {}


def _field_names(cls: type) -> tuple | None:
    """(names, with __dict__ too) for a class with ``_mirror_fields`` or ``__slots__``; None for a
    plain class (its ``__dict__`` is its fields). Cached per class."""
    if cls in _FIELD_NAMES:
        return _FIELD_NAMES[cls]
    declared = getattr(cls, "_mirror_fields", None)
    if declared is not None:
        names: tuple | None = (tuple(declared), False)
    else:
        slots = []
        for klass in cls.__mro__:
            own = klass.__dict__.get("__slots__", ())
            for n in (own,) if isinstance(own, str) else own if isinstance(own, (tuple, list)) else ():
                if n not in ("__dict__", "__weakref__") and n not in slots:
                    slots.append(n)
        names = (tuple(slots), hasattr(cls, "__dictoffset__") and cls.__dictoffset__ != 0) if slots else None
    if len(_FIELD_NAMES) < 4096:
        _FIELD_NAMES[cls] = names
    return names


def new_instance(cls: type) -> Any:
    """An empty instance of a lab class, made without running its constructor."""
    if cls.__new__ is not object.__new__:
        raise ChannelError(f"objects of {cls.__qualname__} cannot be rebuilt from data (a custom __new__)")
    return object.__new__(cls)


def set_fields(obj: Any, fields: dict) -> None:
    """Give ``obj`` exactly ``fields`` (frozen dataclasses included); a field must be a plain
    attribute name, and one the class's ``_mirror_fields`` names when it declares them."""
    cls = type(obj)
    allowed = getattr(cls, "_mirror_fields", None)
    for k in fields:
        if type(k) is not str or not k.isidentifier() or (k.startswith("__") and k.endswith("__")):
            raise ChannelError(f"{k!r} is not a field name a {cls.__qualname__} can have")
        if allowed is not None and k not in allowed:
            raise ChannelError(f"a {cls.__qualname__} crosses with the fields {list(allowed)} only: got {k!r}")
    if allowed is None and hasattr(obj, "__dict__"):
        for k in [k for k in vars(obj) if k not in fields]:
            del obj.__dict__[k]
    for k, v in fields.items():
        try:
            object.__setattr__(obj, k, v)
        except (AttributeError, TypeError) as exc:
            raise ChannelError(f"cannot set {cls.__qualname__}.{k}: {exc}") from None


def fill_array(orig: Any, new: Any) -> None:
    """Give the array or tensor ``orig`` the content of ``new``, in place (identity kept)."""
    if _is_tensor(orig):
        torch = __import__("sys").modules["torch"]
        with torch.no_grad():
            if orig.shape == new.shape and orig.dtype == new.dtype:
                orig.copy_(new)
            else:
                orig.data = new
        return
    if orig.shape != new.shape or orig.dtype != new.dtype:
        raise ChannelError(f"an array of shape {orig.shape} and dtype {orig.dtype} came back as shape "
                           f"{new.shape}, dtype {new.dtype}: a numpy array cannot change shape in place")
    orig[...] = new


_is = __import__("operator").is_
_FIELD_GETTERS: dict[type, Callable[[Any], tuple]] = {}


def _field_getter(cls: type) -> Callable[[Any], tuple]:
    """A fast function from a lab object to its fields' values, in a fixed order (names first,
    so that a field that appears or disappears is a change too)."""
    import operator

    names = _field_names(cls)
    if names is None or names[1]:
        fixed = names[0] if names is not None else ()

        def get(obj, fixed=fixed):
            d = vars(obj) if hasattr(obj, "__dict__") else {}
            return tuple(d) + tuple(d.values()) + tuple(getattr(obj, n, _MISSING) for n in fixed)
    else:
        many = operator.attrgetter(*names[0]) if len(names[0]) > 1 else None
        one = names[0][0] if len(names[0]) == 1 else None

        def get(obj, many=many, one=one, names=names[0]):
            try:
                return many(obj) if many is not None else (getattr(obj, one),) if one is not None else ()
            except AttributeError:
                return tuple(getattr(obj, n, _MISSING) for n in names)
    if len(_FIELD_GETTERS) < 4096:
        _FIELD_GETTERS[cls] = get
    return get


_MISSING = object()
