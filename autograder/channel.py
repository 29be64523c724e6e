"""The channel between the sandbox (student code) and the trusted judge: data, never code.

Issue #12's design, "the sandbox observes, the judge judges", and issue #23's "the judge owns
every name": the judge never runs student code, and what crosses from the sandbox is DATA,
rebuilt on the trusted side. This module is the one codec both sides use. It is written to be
fed hostile bytes: every decode either returns data or raises ``ChannelError`` with what was
wrong; it never unpickles, never imports by a name the input gives it on the judge's side, and
never calls a constructor named by the input (objects are made with ``object.__new__`` and their
fields set from data, and only for classes the receiver allows: see ``Nodes``).

Values (a tag byte, then the payload; integers in the framing are big-endian):

==========  ====  ============================================================================
value       tag   payload
==========  ====  ============================================================================
None        N
False/True  F T
int         i     u32 length + signed big-endian bytes (at most ``MAX_INT_BYTES``)
float       f     IEEE 754 double
str         s     u32 length + UTF-8
bytes       b     u32 length + bytes
list        l     u32 count + values
tuple       t     u32 count + values
dict        d     u32 count + (key, value) pairs; keys are hashable values, no duplicates
OrderedDict D     as dict (``collections.OrderedDict``)
set         q     u32 count + values (hashable)
frozenset   z     u32 count + values (hashable)
deque       e     maxlen (None or int) + u32 count + values (``collections.deque``)
ndarray     a     dtype (str, numpy ``dtype.str``) + u8 ndim + u64 per dim + bytes (C order)
tensor      p     dtype (str, torch name) + u8 ndim + u64 per dim + bytes (C order)
handle      h     u64 id + type name (str): a reference to an object that stays in the sandbox
object      o     class reference (str) + dict of fields (str keys): one of the lab's objects
node        m     u64 key + a list, dict, D, set, deque, array, tensor or object: a value WITH
                  identity (the receiver fills the object it knows by that key in place)
reference   r     u64 key: the node sent earlier in this message, or one the receiver knows
code        c     reference (str): a function or class of the lab, by the name both sides bind
==========  ====  ============================================================================

Only exact types are plain: an ``int`` subclass (an "always-equal" integer) is not an ``int``.
Objects of the lab's own classes (those its locked cells define or import from ``mlsys_kit``) and
mutable containers the judge sends cross BY VALUE-RESULT: the judge sends them as nodes with
keys; the sandbox keeps a mirror of each and, after the call, sends the mirrors' state back, so
what student code did to an argument reaches the test's object (``Nodes``; the judge's and the
runner's subclasses decide what may cross). A frame is ``u32 length + value``; ``FrameReader``
enforces a cap per message and a running total per submission.
"""

from __future__ import annotations

import math
import os
import select
import socket
import struct
import time
from typing import Any, Callable

# the builtins this module uses, bound here: code in the same process that rebinds builtins.type
# (student code, in the sandbox) does not change what the codec does
type, len, id, int, float, str, bytes, list, tuple, dict, isinstance = (  # noqa: A001
    type, len, id, int, float, str, bytes, list, tuple, dict, isinstance)

MAX_DEPTH = 64
MAX_INT_BYTES = 4096
MAX_ITEMS = 1 << 20              # elements of one container
MAX_NDIM = 8
MAX_TYPE_NAME = 200
MESSAGE_BYTES = 32 << 20         # default cap on one frame
SUBMISSION_BYTES = 512 << 20     # default cap on all frames from one sandbox

NUMPY_DTYPES = {f"{e}{k}{n}" for e in "<>|" for k, ns in (("i", (1, 2, 4, 8)), ("u", (1, 2, 4, 8)),
                                                          ("f", (2, 4, 8)), ("c", (8, 16)), ("b", (1,)))
                for n in ns}
TORCH_DTYPES = ("float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool",
                "complex64", "complex128")


class ChannelError(ValueError):
    """Bytes that are not a valid message, or a value that cannot be sent: says what and why."""


class Handle:
    """A reference to an object that stays in the sandbox, as it travels: its id and type name.
    The judge turns these into proxies; the sandbox into its own objects."""

    __slots__ = ("id", "type_name")

    def __init__(self, id: int, type_name: str = "object"):
        if type(id) is not int or not 0 <= id < 1 << 64:
            raise ChannelError(f"a handle id is an int in [0, 2**64): got {id!r}")
        if type(type_name) is not str or len(type_name) > MAX_TYPE_NAME:
            raise ChannelError(f"a handle's type name is a str of at most {MAX_TYPE_NAME} characters")
        self.id, self.type_name = id, type_name

    def __eq__(self, other):
        return type(other) is Handle and other.id == self.id

    def __hash__(self):
        return hash(("handle", self.id))

    def __repr__(self):
        return f"Handle({self.id}, {self.type_name!r})"


# ---- what may cross with identity or as an object (each side subclasses this) ----------------
SANDBOX_KEYS = 1 << 63  # node keys: the judge makes them below this, the sandbox at or above it


class Nodes:
    """Identity across the channel, on one side (the judge's ``autograder.judge.JudgeNodes`` and
    the runner's ``autograder.runner.Mirrors`` decide what may cross).

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


# ---- encoding -------------------------------------------------------------------------------
def encode(value: Any, handles: Callable[[Any], Handle] | None = None, max_bytes: int = MESSAGE_BYTES,
           nodes: Nodes | None = None) -> bytes:
    """The bytes of ``value``. ``nodes`` decides how values that are not plain go (nodes with
    identity, lab objects, code references); then ``handles(obj)`` turns what is left into a
    ``Handle`` (the sandbox's table); without it, that is a ``ChannelError`` (the judge's side: a
    judge-side function or object cannot be sent).

    With ``nodes``, the message also carries the known nodes that changed on this side and the
    keys it dropped: tag ``x``, u32 count of nodes, u32 count of keys, the keys (u64), the value,
    then the nodes."""
    enc = _Encoder(handles, max_bytes, nodes)
    if nodes is not None:
        enc.changed = nodes.scan()
    enc.value(value, 0, set())
    if nodes is None:
        return b"".join(enc.out)
    for key, snap in list(enc.changed.items()):
        if key not in enc.done and key in nodes.objects:
            enc.detach(nodes.objects[key], key)
    for key, v, snap in enc.crossed:
        nodes.crossed(key, v, snap)
    drops, nodes.dropped = nodes.dropped, []
    if not enc.detached and not drops:
        return b"".join(enc.out)
    head = [b"x", struct.pack(">II", len(enc.detached), len(drops))] + [struct.pack(">Q", k) for k in drops]
    return b"".join(head + enc.out + enc.detached)


class _Encoder:
    def __init__(self, handles, max_bytes: int, nodes: Nodes | None):
        self.handles, self.max_bytes, self.nodes = handles, max_bytes, nodes
        self.out: list[bytes] = []
        self.detached: list[bytes] = []  # changed nodes the value does not hold
        self.size = 0
        self.changed: dict[int, tuple] = {}
        self.done: set[int] = set()      # keys already in this message
        self.alive: list = []            # keeps every node alive while ids are compared
        self.judge_nodes = 0             # how many nodes made by the judge the encoder is inside
        self.crossed: list[tuple] = []   # (key, node, content): recorded once the message is whole

    def put(self, b: bytes) -> None:
        self.size += len(b)
        if self.size > self.max_bytes:
            raise ChannelError(f"message larger than the cap of {self.max_bytes} bytes")
        self.out.append(b)

    def container(self, tag: bytes, v: Any, depth: int, stack: set[int]) -> None:
        if len(v) > MAX_ITEMS:
            raise ChannelError(f"container with more than {MAX_ITEMS} elements")
        self.put(tag)
        if tag == b"e":
            self.value(v.maxlen, depth + 1, stack)
        self.put(struct.pack(">I", len(v)))
        if tag in (b"d", b"D"):
            for k, x in v.items():
                self.value(k, depth + 1, stack)
                self.value(x, depth + 1, stack)
        else:
            for x in v:
                self.value(x, depth + 1, stack)

    def value(self, v: Any, depth: int, stack: set[int]) -> None:
        if depth > MAX_DEPTH:
            raise ChannelError(f"value nested deeper than {MAX_DEPTH} levels")
        t = type(v)
        put = self.put
        if v is None:
            put(b"N")
        elif t is bool:
            put(b"T" if v else b"F")
        elif t is int:
            n = (v.bit_length() + 8) // 8
            if n > MAX_INT_BYTES:
                raise ChannelError(f"int with more than {MAX_INT_BYTES} bytes")
            put(b"i" + struct.pack(">I", n) + v.to_bytes(n, "big", signed=True))
        elif t is float:
            put(b"f" + struct.pack(">d", v))
        elif t is str:
            data = v.encode("utf-8", "surrogatepass")
            put(b"s" + struct.pack(">I", len(data)) + data)
        elif t is bytes:
            put(b"b" + struct.pack(">I", len(v)) + v)
        elif t is Handle:
            put(_handle_bytes(v))
        elif t is tuple or t is frozenset:
            if id(v) in stack:
                raise ChannelError("value contains itself (a cycle): cannot be sent as plain data")
            stack.add(id(v))
            self.container(b"t" if t is tuple else b"z", v, depth, stack)
            stack.discard(id(v))
        else:
            nodes = self.nodes
            how = nodes.outgoing(v) if nodes is not None and id(v) not in nodes.envelope else None
            if how is None:
                self.plain(v, t, depth, stack)
            elif how[0] == "value":
                self.value(how[1], depth + 1, stack)
            elif how[0] == "code":
                put(b"c" + _str_bytes(how[1]))
            elif how[0] == "object":
                put(b"o" + _str_bytes(how[1]))
                self.container(b"d", how[2], depth, stack)
            else:  # ("node", key)
                self.node(v, how[1], depth)

    def node(self, v: Any, key: int, depth: int) -> None:
        nodes = self.nodes
        if key in self.done or (key in nodes.peer_has and key not in self.changed and key in nodes.snaps):
            self.put(b"r" + struct.pack(">Q", key))  # in this message already, or unchanged since it crossed
            return
        self.done.add(key)
        self.alive.append(v)
        snap = self.changed.get(key) or nodes.shallow(v)
        self.put(b"m" + struct.pack(">Q", key))
        judge_made = key < SANDBOX_KEYS
        self.judge_nodes += judge_made
        t = type(v)
        if t in _CONTAINER_TAGS:
            self.container(_CONTAINER_TAGS[t], v, depth, set())
        elif _is_ndarray(v) or _is_tensor(v):
            self.plain(v, t, depth, set())
        else:
            ref, fields = nodes.describe(v)
            self.put(b"o" + _str_bytes(ref))
            try:
                self.container(b"d", fields, depth, set())
            except ChannelError as exc:
                raise ChannelError(f"in a {t.__qualname__}: {exc}") from None
        self.judge_nodes -= judge_made
        self.crossed.append((key, v, snap))

    def detach(self, v: Any, key: int) -> None:
        """A changed node the value does not hold: into the section after the value."""
        out, self.out = self.out, []
        self.node(v, key, 1)
        self.detached.append(b"".join(self.out))
        self.out = out

    def plain(self, v: Any, t: type, depth: int, stack: set[int]) -> None:
        put = self.put
        if t in _CONTAINER_TAGS:
            if id(v) in stack:
                raise ChannelError("value contains itself (a cycle): cannot be sent as plain data")
            stack.add(id(v))
            self.container(_CONTAINER_TAGS[t], v, depth, stack)
            stack.discard(id(v))
        elif _is_ndarray(v):
            arr = v
            if arr.dtype.str not in NUMPY_DTYPES:
                raise ChannelError(f"numpy dtype {arr.dtype} cannot be sent (numbers and bools only)")
            data = arr.tobytes(order="C")
            put(b"a" + _str_bytes(arr.dtype.str) + _shape_bytes(arr.shape))
            put(struct.pack(">Q", len(data)) + data)
        elif _is_tensor(v):
            dt = str(v.dtype).removeprefix("torch.")
            if dt not in TORCH_DTYPES:
                raise ChannelError(f"torch dtype {v.dtype} cannot be sent")
            tc = v.detach().to("cpu").contiguous()
            data = tc.view(-1).view(__import__("torch").uint8).numpy().tobytes() if tc.numel() else b""
            put(b"p" + _str_bytes(dt) + _shape_bytes(tuple(tc.shape)))
            put(struct.pack(">Q", len(data)) + data)
        elif self.handles is not None:
            if self.judge_nodes and self.nodes is not None and self.nodes.refuse_handles_out:
                raise ChannelError(f"student code put an object of its own (a {t.__qualname__}) into an object the "
                                   "test passed: objects a test passes hold plain data and the lab's objects only")
            put(_handle_bytes(self.handles(v)))
        else:
            raise ChannelError(f"a {t.__name__} cannot be sent: only None, bool, int, float, str, bytes, list, "
                               "tuple, dict, set, deque, numpy arrays, torch tensors, the lab's own objects and "
                               "remote handles")


_SCALARS = frozenset({type(None), bool, int, float, str, bytes})
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


def _containers() -> dict[type, bytes]:
    from collections import OrderedDict, deque

    return {list: b"l", dict: b"d", OrderedDict: b"D", set: b"q", deque: b"e"}


_CONTAINER_TAGS = _containers()
_DICTS = frozenset(t for t, tag in _CONTAINER_TAGS.items() if tag in (b"d", b"D"))


def _handle_bytes(h: Handle) -> bytes:
    if type(h) is not Handle:
        raise ChannelError("the handle table must return a Handle")
    name = h.type_name.encode("utf-8", "replace")[:MAX_TYPE_NAME]
    return b"h" + struct.pack(">QI", h.id, len(name)) + name


def _str_bytes(s: str) -> bytes:
    data = s.encode("utf-8", "surrogatepass")
    return struct.pack(">I", len(data)) + data


def _shape_bytes(shape: tuple) -> bytes:
    if len(shape) > MAX_NDIM:
        raise ChannelError(f"arrays of at most {MAX_NDIM} dimensions")
    return struct.pack(">B", len(shape)) + b"".join(struct.pack(">Q", int(d)) for d in shape)


def _is_ndarray(v: Any) -> bool:
    np = __import__("sys").modules.get("numpy")
    return np is not None and type(v) is np.ndarray


def _is_tensor(v: Any) -> bool:
    """A torch tensor, or torch's own Parameter (sent as its data); a tensor subclass of anyone
    else's is not plain."""
    torch = __import__("sys").modules.get("torch")
    return torch is not None and (type(v) is torch.Tensor or type(v) is torch.nn.Parameter)


# ---- decoding (hostile input) ---------------------------------------------------------------
class _Reader:
    __slots__ = ("buf", "pos", "memo", "nodes", "mk", "judge_nodes")

    def __init__(self, buf: bytes, nodes: Nodes | None, mk):
        self.buf, self.pos = buf, 0
        self.memo: dict[int, Any] = {}  # key -> object, for the nodes of this message
        self.nodes, self.mk = nodes, mk
        self.judge_nodes = 0  # how many nodes made by the judge the decoder is inside

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise ChannelError(f"truncated message: needed {n} bytes at offset {self.pos}, "
                               f"{len(self.buf) - self.pos} left")
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def peek(self) -> bytes:
        if self.pos >= len(self.buf):
            raise ChannelError("truncated message: a node without content")
        return self.buf[self.pos:self.pos + 1]

    def u32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def u64(self) -> int:
        return struct.unpack(">Q", self.take(8))[0]

    def text(self, limit: int) -> str:
        n = self.u32()
        if n > limit:
            raise ChannelError(f"string of {n} bytes where at most {limit} are allowed")
        try:
            return self.take(n).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError as exc:
            raise ChannelError(f"invalid UTF-8 in a string: {exc.reason}") from None


def decode(data: bytes, make_handle: Callable[[Handle], Any] | None = None, nodes: Nodes | None = None) -> Any:
    """The value in ``data`` (one complete value, nothing after it). ``make_handle(Handle)``
    turns a handle into the receiver's object (a proxy on the judge's side); without it,
    handles decode as ``Handle``. ``nodes`` receives nodes (applied in place to the objects it
    knows by their keys), lab objects and code references; without it they are errors. Raises
    ``ChannelError`` on anything malformed."""
    if type(data) not in (bytes, bytearray, memoryview):
        raise ChannelError(f"decode takes bytes: got {type(data).__name__}")
    r = _Reader(bytes(data), nodes, make_handle)
    if r.buf[:1] == b"x" and nodes is not None:  # changed nodes and dropped keys come with the value
        r.take(1)
        count, drops = struct.unpack(">II", r.take(8))
        if drops > (len(r.buf) - r.pos) // 8:
            raise ChannelError(f"{drops} dropped keys do not fit the message")
        nodes.peer_dropped([r.u64() for _ in range(drops)])
        value = _dec(r, 0)
        for _ in range(count):
            if r.take(1) != b"m":
                raise ChannelError("the section after a value holds nodes only")
            _node(r, 1)
    else:
        value = _dec(r, 0)
    if r.pos != len(r.buf):
        raise ChannelError(f"{len(r.buf) - r.pos} bytes after the end of the value")
    return value


def _hashable(k: Any) -> Any:
    try:
        hash(k)
    except TypeError:
        raise ChannelError(f"a {type(k).__name__} cannot be a dict key or set element") from None
    return k


def _count(r: _Reader) -> int:
    n = r.u32()
    if n > MAX_ITEMS or n > len(r.buf) - r.pos:  # every element takes at least one byte
        raise ChannelError(f"container of {n} elements does not fit the message (or exceeds {MAX_ITEMS})")
    return n


def _items(r: _Reader, tag: bytes, depth: int) -> Any:
    """The content of a container tag (after the tag byte): a list of items, a dict, and for a
    deque (maxlen, items)."""
    maxlen = None
    if tag == b"e":
        maxlen = _dec(r, depth + 1)
        if maxlen is not None and (type(maxlen) is not int or maxlen < 0):
            raise ChannelError(f"a deque's maxlen is None or an int >= 0: got {maxlen!r}")
    n = _count(r)
    if tag in (b"d", b"D"):
        out: dict = {}
        for _ in range(n):
            k = _hashable(_dec(r, depth + 1))
            if k in out:
                raise ChannelError(f"duplicate dict key {k!r}")
            out[k] = _dec(r, depth + 1)
        return out
    items = [_dec(r, depth + 1) for _ in range(n)]
    if tag in (b"q", b"z"):
        for x in items:
            _hashable(x)
    return (maxlen, items) if tag == b"e" else items


def _fill(obj: Any, tag: bytes, content: Any) -> None:
    """Give the container ``obj`` the decoded ``content`` of a ``tag`` node, in place."""
    if tag == b"l":
        obj[:] = content
    elif tag in (b"d", b"D", b"q"):
        obj.clear()
        obj.update(content)
    else:
        maxlen, items = content
        if obj.maxlen != maxlen:
            raise ChannelError(f"a deque with maxlen {obj.maxlen} came back with maxlen {maxlen}")
        obj.clear()
        obj.extend(items)


def _new_container(tag: bytes, maxlen: int | None = None) -> Any:
    from collections import OrderedDict, deque

    return {b"l": list, b"d": dict, b"D": OrderedDict, b"q": set}[tag]() if tag != b"e" else deque(maxlen=maxlen)


def _object(r: _Reader, depth: int, obj: Any = None, key: int | None = None) -> Any:
    """After an ``o`` tag: a lab object, made here (``obj`` None) or filled in place."""
    ref = r.text(MAX_TYPE_NAME)
    cls = r.nodes.object_class(ref)
    if obj is not None and type(obj) is not cls:
        raise ChannelError(f"node {key} is a {type(obj).__qualname__}, not a {cls.__qualname__}")
    if obj is None:
        obj = new_instance(cls)
    if key is not None:
        r.memo[key] = obj
    if r.take(1) != b"d":
        raise ChannelError(f"an object's fields are a dict ({ref})")
    set_fields(obj, _items(r, b"d", depth))
    return obj


def _node(r: _Reader, depth: int) -> Any:
    """After an ``m`` tag: a node; an object known under its key gets the content in place."""
    key = r.u64()
    if key in r.memo:
        raise ChannelError(f"node {key} sent twice in one message")
    nodes = r.nodes
    obj = nodes.lookup(key)
    tag = r.peek()
    judge_made = key < SANDBOX_KEYS
    r.judge_nodes += judge_made
    if tag == b"o":
        r.take(1)
        obj = _object(r, depth, obj, key)
    elif tag in (b"l", b"d", b"D", b"q", b"e"):
        r.take(1)
        if obj is not None and _CONTAINER_TAGS.get(type(obj)) != tag:
            raise ChannelError(f"node {key} is a {type(obj).__name__}, not a {tag!r} container")
        if tag == b"e":
            start = r.pos
            maxlen = _dec(r, depth + 1)  # read once to make the shell; _items reads it again
            r.pos = start
            obj = obj if obj is not None else _new_container(tag, maxlen if type(maxlen) is int else None)
        elif obj is None:
            obj = _new_container(tag)
        r.memo[key] = obj
        _fill(obj, tag, _items(r, tag, depth))
    elif tag in (b"a", b"p"):
        arr = _dec(r, depth + 1)
        if obj is None:
            obj = arr
        elif _is_tensor(obj) != _is_tensor(arr) or _is_ndarray(obj) != _is_ndarray(arr):
            raise ChannelError(f"node {key} changed between array and tensor")
        else:
            fill_array(obj, arr)
        r.memo[key] = obj
    else:
        raise ChannelError(f"a node holds a container, array, tensor or object: got tag {tag!r}")
    r.judge_nodes -= judge_made
    nodes.register(key, obj)
    nodes.crossed(key, obj)
    return obj


def _dec(r: _Reader, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ChannelError(f"value nested deeper than {MAX_DEPTH} levels")
    tag = r.take(1)
    if tag == b"N":
        return None
    if tag == b"T":
        return True
    if tag == b"F":
        return False
    if tag == b"i":
        n = r.u32()
        if not 1 <= n <= MAX_INT_BYTES:
            raise ChannelError(f"int of {n} bytes: 1 to {MAX_INT_BYTES} allowed")
        return int.from_bytes(r.take(n), "big", signed=True)
    if tag == b"f":
        return struct.unpack(">d", r.take(8))[0]
    if tag == b"s":
        return r.text(len(r.buf))
    if tag == b"b":
        return r.take(r.u32())
    if tag in (b"l", b"t", b"d", b"D", b"q", b"z", b"e"):
        content = _items(r, tag, depth)
        if tag == b"t":
            return tuple(content)
        if tag == b"z":
            return frozenset(content)
        if tag in (b"l", b"d"):
            return content
        obj = _new_container(tag, content[0] if tag == b"e" else None)
        _fill(obj, tag, content)
        return obj
    if tag in (b"a", b"p"):
        dtype = r.text(32)
        ndim = r.take(1)[0]
        if ndim > MAX_NDIM:
            raise ChannelError(f"array of {ndim} dimensions: at most {MAX_NDIM}")
        shape = tuple(struct.unpack(">Q", r.take(8))[0] for _ in range(ndim))
        nbytes = struct.unpack(">Q", r.take(8))[0]
        if nbytes > len(r.buf) - r.pos:
            raise ChannelError(f"array of {nbytes} bytes does not fit the message")
        return _array(tag, dtype, shape, r.take(nbytes))
    if tag == b"h":
        hid, n = struct.unpack(">QI", r.take(12))
        if n > MAX_TYPE_NAME:
            raise ChannelError(f"handle type name of {n} bytes: at most {MAX_TYPE_NAME}")
        name = r.take(n).decode("utf-8", "replace")
        h = Handle(hid, name)
        if r.judge_nodes and r.nodes is not None and r.nodes.refuse_handles_in:
            raise ChannelError(f"student code put an object of its own (a {name}) into an object the test passed: "
                               "objects a test passes hold plain data and the lab's objects only")
        return r.mk(h) if r.mk is not None else h
    if tag in (b"m", b"r", b"o", b"c"):
        if r.nodes is None:
            raise ChannelError(f"tag {tag!r} (nodes, objects, code) is not expected in this message")
        if tag == b"m":
            return _node(r, depth)
        if tag == b"r":
            key = r.u64()
            if key in r.memo:
                return r.memo[key]
            obj = r.nodes.lookup(key)
            if obj is None:
                raise ChannelError(f"a reference to node {key}, which this side does not know")
            return obj
        if tag == b"o":
            return _object(r, depth)
        return r.nodes.code(r.text(MAX_TYPE_NAME))
    raise ChannelError(f"unknown tag {tag!r} at offset {r.pos - 1}")


def _array(tag: bytes, dtype: str, shape: tuple, data: bytes) -> Any:
    count = math.prod(shape)
    if tag == b"a":
        if dtype not in NUMPY_DTYPES:
            raise ChannelError(f"numpy dtype {dtype!r} not allowed: numbers and bools only")
        import numpy as np

        dt = np.dtype(dtype)
        if count * dt.itemsize != len(data):
            raise ChannelError(f"array of shape {shape} and dtype {dtype} needs {count * dt.itemsize} bytes, "
                               f"got {len(data)}")
        return np.frombuffer(data, dtype=dt).reshape(shape).copy()
    if dtype not in TORCH_DTYPES:
        raise ChannelError(f"torch dtype {dtype!r} not allowed: one of {', '.join(TORCH_DTYPES)}")
    import torch

    dt = getattr(torch, dtype)
    itemsize = torch.empty((), dtype=dt).element_size()
    if count * itemsize != len(data):
        raise ChannelError(f"tensor of shape {shape} and dtype {dtype} needs {count * itemsize} bytes, "
                           f"got {len(data)}")
    if count == 0:
        return torch.empty(shape, dtype=dt)
    return torch.frombuffer(bytearray(data), dtype=dt).reshape(shape).clone()


# ---- framing --------------------------------------------------------------------------------
def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


class ChannelClosed(ChannelError):
    """The other end closed the channel (the sandbox died or was killed)."""


class ChannelTimeout(ChannelError):
    """No complete message arrived within the time allowed."""


class FrameReader:
    """Reads length-prefixed frames from a socket with caps: ``max_message`` bytes per frame and
    ``max_total`` bytes over the reader's life (one submission)."""

    def __init__(self, sock: socket.socket, max_message: int = MESSAGE_BYTES, max_total: int = SUBMISSION_BYTES):
        self.sock, self.max_message, self.max_total = sock, max_message, max_total
        self.total = 0
        self.buf = bytearray()

    def _fill(self, n: int, deadline: float | None) -> None:
        while len(self.buf) < n:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                    raise ChannelTimeout("no answer in time")
            chunk = self.sock.recv(min(1 << 20, max(n - len(self.buf), 65536)))
            if not chunk:
                raise ChannelClosed("the channel was closed")
            self.total += len(chunk)
            if self.total > self.max_total:
                raise ChannelError(f"more than {self.max_total} bytes in all from the sandbox (the cap per submission)")
            self.buf += chunk

    def read(self, timeout: float | None = None) -> bytes:
        deadline = None if timeout is None else time.monotonic() + timeout
        self._fill(4, deadline)
        n = struct.unpack(">I", self.buf[:4])[0]
        if n > self.max_message:
            raise ChannelError(f"a message of {n} bytes, over the cap of {self.max_message} bytes per message")
        self._fill(4 + n, deadline)
        payload = bytes(self.buf[4:4 + n])
        del self.buf[:4 + n]
        return payload


def send(sock: socket.socket, value: Any, handles: Callable[[Any], Handle] | None = None,
         max_bytes: int = MESSAGE_BYTES) -> None:
    sock.sendall(frame(encode(value, handles, max_bytes)))


def socketpair() -> tuple[socket.socket, socket.socket]:
    """(judge's end, sandbox's end); the sandbox's end is inheritable, the judge's is not."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    os.set_inheritable(b.fileno(), True)
    return a, b
