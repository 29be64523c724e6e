"""Encoding a value for the channel (the format: ``autograder.submission.channel``)."""

from __future__ import annotations

import struct
from typing import Any, Callable

from autograder.submission.channel import (_CONTAINER_TAGS, MAX_DEPTH, MAX_INT_BYTES, MAX_ITEMS, MAX_NDIM,
                                           MAX_TYPE_NAME, MESSAGE_BYTES, NUMPY_DTYPES, TORCH_DTYPES, ChannelError,
                                           Handle, _is_ndarray, _is_tensor)
from autograder.submission.nodes import SANDBOX_KEYS, Nodes

# the builtins this module uses, bound here: code in the same process that rebinds builtins.type
# (student code, in the sandbox) does not change what the codec does
type, len, id, int, float, str, bytes, list, tuple, dict, isinstance = (  # noqa: A001
    type, len, id, int, float, str, bytes, list, tuple, dict, isinstance)

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
