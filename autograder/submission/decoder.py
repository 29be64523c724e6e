"""Decoding a message from the channel: hostile bytes in, data (or ``ChannelError``) out (the
format: ``autograder.submission.channel``)."""

from __future__ import annotations

import math
import struct
from typing import Any, Callable

from autograder.submission.channel import (_CONTAINER_TAGS, MAX_DEPTH, MAX_INT_BYTES, MAX_ITEMS, MAX_NDIM,
                                           MAX_TYPE_NAME, NUMPY_DTYPES, TORCH_DTYPES, ChannelError, Handle,
                                           _is_ndarray, _is_tensor)
from autograder.submission.nodes import SANDBOX_KEYS, Nodes, fill_array, new_instance, set_fields

# the builtins this module uses, bound here: code in the same process that rebinds builtins.type
# (student code, in the sandbox) does not change what the codec does
type, len, id, int, float, str, bytes, list, tuple, dict, isinstance = (  # noqa: A001
    type, len, id, int, float, str, bytes, list, tuple, dict, isinstance)

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
