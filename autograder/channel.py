"""The channel between the sandbox (student code) and the trusted judge: plain data only.

Issue #12's design, "the sandbox observes, the judge judges": the judge never runs student code,
and what crosses from the sandbox is DATA, rebuilt on the trusted side, never objects. This module
is the one codec both sides use. It is written to be fed hostile bytes: every decode either
returns plain data or raises ``ChannelError`` with what was wrong; it never unpickles, never
imports, never calls a constructor named by the input.

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
dict        d     u32 count + (key, value) pairs; keys are str or int, no duplicates
ndarray     a     dtype (str, numpy ``dtype.str``) + u8 ndim + u64 per dim + bytes (C order)
tensor      p     dtype (str, torch name) + u8 ndim + u64 per dim + bytes (C order)
handle      h     u64 id + type name (str): a reference to an object that stays in the sandbox
==========  ====  ============================================================================

Only exact types are plain: an ``int`` subclass (an "always-equal" integer, an ``IntEnum``) is not
an ``int`` and is sent as a handle by ``encode(..., handles=...)`` (or refused without a table).
A frame is ``u32 length + value``; ``FrameReader`` enforces a cap per message and a running total
per submission.
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


# ---- encoding -------------------------------------------------------------------------------
def encode(value: Any, handles: Callable[[Any], Handle] | None = None, max_bytes: int = MESSAGE_BYTES) -> bytes:
    """The bytes of ``value``. ``handles(obj)`` turns a non-plain object into a ``Handle`` (the
    sandbox's table); without it, a non-plain object is a ``ChannelError`` (the judge's side:
    a judge-side function or object cannot be sent)."""
    out: list[bytes] = []
    size = [0]

    def put(b: bytes) -> None:
        size[0] += len(b)
        if size[0] > max_bytes:
            raise ChannelError(f"message larger than the cap of {max_bytes} bytes")
        out.append(b)

    def enc(v: Any, depth: int, stack: set[int]) -> None:
        if depth > MAX_DEPTH:
            raise ChannelError(f"value nested deeper than {MAX_DEPTH} levels")
        t = type(v)
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
            name = v.type_name.encode("utf-8", "replace")[:MAX_TYPE_NAME]
            put(b"h" + struct.pack(">QI", v.id, len(name)) + name)
        elif t in (list, tuple, dict):
            if id(v) in stack:
                raise ChannelError("value contains itself (a cycle): cannot be sent as plain data")
            if len(v) > MAX_ITEMS:
                raise ChannelError(f"container with more than {MAX_ITEMS} elements")
            if t is dict and not all(type(k) in (str, int) for k in v):
                if handles is None:
                    raise ChannelError("dict keys must be str or int")
                put(_handle_bytes(handles(v)))
                return
            stack.add(id(v))
            put({list: b"l", tuple: b"t", dict: b"d"}[t] + struct.pack(">I", len(v)))
            if t is dict:
                for k, x in v.items():
                    enc(k, depth + 1, stack)
                    enc(x, depth + 1, stack)
            else:
                for x in v:
                    enc(x, depth + 1, stack)
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
        elif handles is not None:
            put(_handle_bytes(handles(v)))
        else:
            raise ChannelError(f"a {t.__name__} cannot be sent: only None, bool, int, float, str, bytes, list, "
                               "tuple, dict (str/int keys), numpy arrays, torch tensors and remote handles")

    enc(value, 0, set())
    return b"".join(out)


def _handle_bytes(h: Handle) -> bytes:
    if type(h) is not Handle:
        raise ChannelError("the handle table must return a Handle")
    name = h.type_name.encode("utf-8", "replace")[:MAX_TYPE_NAME]
    return b"h" + struct.pack(">QI", h.id, len(name)) + name


def _str_bytes(s: str) -> bytes:
    data = s.encode()
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
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes):
        self.buf, self.pos = buf, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise ChannelError(f"truncated message: needed {n} bytes at offset {self.pos}, "
                               f"{len(self.buf) - self.pos} left")
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def u32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def text(self, limit: int) -> str:
        n = self.u32()
        if n > limit:
            raise ChannelError(f"string of {n} bytes where at most {limit} are allowed")
        try:
            return self.take(n).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError as exc:
            raise ChannelError(f"invalid UTF-8 in a string: {exc.reason}") from None


def decode(data: bytes, make_handle: Callable[[Handle], Any] | None = None) -> Any:
    """The value in ``data`` (one complete value, nothing after it). ``make_handle(Handle)``
    turns a handle into the receiver's object (a proxy on the judge's side); without it,
    handles decode as ``Handle``. Raises ``ChannelError`` on anything malformed."""
    if type(data) not in (bytes, bytearray, memoryview):
        raise ChannelError(f"decode takes bytes: got {type(data).__name__}")
    r = _Reader(bytes(data))
    value = _dec(r, 0, make_handle)
    if r.pos != len(r.buf):
        raise ChannelError(f"{len(r.buf) - r.pos} bytes after the end of the value")
    return value


def _dec(r: _Reader, depth: int, mk) -> Any:
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
    if tag in (b"l", b"t", b"d"):
        n = r.u32()
        if n > MAX_ITEMS or n > len(r.buf) - r.pos:  # every element takes at least one byte
            raise ChannelError(f"container of {n} elements does not fit the message (or exceeds {MAX_ITEMS})")
        if tag == b"d":
            out: dict = {}
            for _ in range(n):
                k = _dec(r, depth + 1, None)
                if type(k) not in (str, int):
                    raise ChannelError(f"dict key of type {type(k).__name__}: keys are str or int")
                if k in out:
                    raise ChannelError(f"duplicate dict key {k!r}")
                out[k] = _dec(r, depth + 1, mk)
            return out
        items = [_dec(r, depth + 1, mk) for _ in range(n)]
        return items if tag == b"l" else tuple(items)
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
        return mk(h) if mk is not None else h
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
