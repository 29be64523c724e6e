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

This module holds the format's constants, its errors, handles and the framing; the codec is
``encoder`` and ``decoder``, identity across the channel ``nodes``: with the runner, the only files
of the autograder the sandbox holds.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import time
from typing import Any

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


_SCALARS = frozenset({type(None), bool, int, float, str, bytes})


def _containers() -> dict[type, bytes]:
    from collections import OrderedDict, deque

    return {list: b"l", dict: b"d", OrderedDict: b"D", set: b"q", deque: b"e"}


_CONTAINER_TAGS = _containers()
_DICTS = frozenset(t for t, tag in _CONTAINER_TAGS.items() if tag in (b"d", b"D"))


def _is_ndarray(v: Any) -> bool:
    np = __import__("sys").modules.get("numpy")
    return np is not None and type(v) is np.ndarray


def _is_tensor(v: Any) -> bool:
    """A torch tensor, or torch's own Parameter (sent as its data); a tensor subclass of anyone
    else's is not plain."""
    torch = __import__("sys").modules.get("torch")
    return torch is not None and (type(v) is torch.Tensor or type(v) is torch.nn.Parameter)



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


def socketpair() -> tuple[socket.socket, socket.socket]:
    """(judge's end, sandbox's end); the sandbox's end is inheritable, the judge's is not."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    os.set_inheritable(b.fileno(), True)
    return a, b
