"""The judge's channel (issue #12): plain data round-trips exactly, hostile bytes fail cleanly.

Property tests (hypothesis): every plain value survives encode/decode with its exact types;
every truncation, bit flip, or random byte string either decodes to plain data or raises
``ChannelError`` (never another exception, never an object that is not plain); caps per message
and per submission hold on a real socket. A second decoder, written independently below from
the format table, must agree with ``decode`` on every valid encoding.
"""

from __future__ import annotations

import math
import socket
import struct
import threading
from collections import OrderedDict, deque

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from autograder.submission import channel
from autograder.submission.decoder import decode
from autograder.submission.encoder import encode
from autograder.submission.channel import ChannelError, Handle

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**200), max_value=2**200)
           | st.floats(allow_nan=False) | st.text(max_size=40) | st.binary(max_size=40))
plain = st.recursive(
    scalars,
    lambda inner: (st.lists(inner, max_size=5) | st.lists(inner, max_size=5).map(tuple)
                   | st.dictionaries(st.text(max_size=8) | st.integers(-5, 5), inner, max_size=5)),
    max_leaves=30)


def same(a, b) -> bool:
    """Equal with identical types all the way down (True is not 1 here)."""
    if type(a) is not type(b):
        return False
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return list(a) == list(b) and all(type(k) is type(k2) and same(a[k], b[k2]) for k, k2 in zip(a, b))
    if type(a) is float:
        return struct.pack(">d", a) == struct.pack(">d", b)
    return a == b


@given(plain)
@settings(max_examples=300, deadline=None)
def test_plain_values_round_trip_with_their_exact_types(value):
    assert same(decode(encode(value)), value)


@given(plain)
@settings(max_examples=200, deadline=None)
def test_a_second_decoder_agrees(value):
    data = encode(value)
    assert same(reference_decode(data), decode(data))


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_floats_bit_exact(x):
    y = decode(encode(x))
    assert type(y) is float and (math.isnan(x) and math.isnan(y) or struct.pack(">d", x) == struct.pack(">d", y))


@given(arrays(st.sampled_from([np.int8, np.int64, np.uint16, np.float32, np.float64, np.bool_, np.complex64]),
              st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)))
@settings(deadline=None)
def test_numpy_arrays_round_trip(arr):
    out = decode(encode(arr))
    assert type(out) is np.ndarray and out.dtype == arr.dtype and out.shape == arr.shape
    assert out.tobytes() == arr.tobytes()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int64, torch.bool, torch.float16])
def test_torch_tensors_round_trip(dtype):
    t = (torch.arange(24).reshape(2, 3, 4) % 3).to(dtype)
    out = decode(encode(t.transpose(0, 2)))  # a non-contiguous view: sent in C order
    assert type(out) is torch.Tensor and out.dtype == dtype and out.shape == (4, 3, 2)
    assert torch.equal(out, t.transpose(0, 2))
    assert decode(encode(torch.empty(0, 3))).shape == (0, 3)
    param = decode(encode(torch.nn.Parameter(torch.ones(2))))  # torch's Parameter: its data
    assert type(param) is torch.Tensor and not param.requires_grad and torch.equal(param, torch.ones(2))

    class Mine(torch.Tensor):
        pass

    with pytest.raises(ChannelError, match="cannot be sent"):
        encode(torch.ones(2).as_subclass(Mine))


def test_subclasses_are_not_plain_and_become_handles():
    class AlwaysEqual(int):
        def __eq__(self, other):
            return True

    with pytest.raises(ChannelError, match="cannot be sent"):
        encode(AlwaysEqual(3))
    table = []
    data = encode([AlwaysEqual(3), 4], handles=lambda o: (table.append(o), Handle(len(table), "AlwaysEqual"))[1])
    out = decode(data)
    assert out == [Handle(1, "AlwaysEqual"), 4] and type(out[1]) is int
    with pytest.raises(ChannelError, match="cannot be sent"):
        encode(lambda: 0)  # a judge-side function: refused without a handle table
    with pytest.raises(ChannelError, match="cycle"):
        loop: list = []
        loop.append(loop)
        encode(loop)


def test_make_handle_turns_handles_into_the_receivers_objects():
    data = encode({"f": Handle(7, "function"), "xs": [Handle(7, "function")]})
    made = decode(data, make_handle=lambda h: ("proxy", h.id))
    assert made == {"f": ("proxy", 7), "xs": [("proxy", 7)]}


@given(plain, st.data())
@settings(max_examples=300, deadline=None)
def test_truncated_or_extended_messages_fail_cleanly(value, data):
    raw = encode(value)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(ChannelError):
        decode(raw[:cut])
    with pytest.raises(ChannelError):
        decode(raw + data.draw(st.binary(min_size=1, max_size=4)))


@given(plain, st.data())
@settings(max_examples=300, deadline=None)
def test_corrupted_messages_decode_to_plain_data_or_fail_cleanly(value, data):
    raw = bytearray(encode(value))
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        out = decode(bytes(raw))
    except ChannelError:
        return
    assert is_plain(out)


@given(st.binary(max_size=200))
@settings(max_examples=500, deadline=None)
def test_random_bytes_decode_to_plain_data_or_fail_cleanly(raw):
    try:
        out = decode(raw)
    except ChannelError:
        return
    assert is_plain(out)


def is_plain(v) -> bool:
    t = type(v)
    if t in (type(None), bool, int, float, str, bytes, Handle, np.ndarray, torch.Tensor):
        return True
    if t in (list, tuple, set, frozenset, deque):
        return all(is_plain(x) for x in v)
    return t in (dict, OrderedDict) and all(is_plain(k) and is_plain(x) for k, x in v.items())


@pytest.mark.parametrize("raw, words", [
    (b"i\x00\x00\x10\x01" + b"\x00" * 4097, "int of 4097 bytes"),
    (b"l\xff\xff\xff\xff", "does not fit"),
    (b"d\x00\x00\x00\x01l\x00\x00\x00\x00N", "a list cannot be a dict key"),
    (b"m" + b"\x00" * 7 + b"\x01l\x00\x00\x00\x00", "not expected in this message"),  # a node without a table
    (b"d\x00\x00\x00\x02s\x00\x00\x00\x01aNs\x00\x00\x00\x01aN", "duplicate dict key"),
    (b"s\x00\x00\x00\x02\xff\xfe", "invalid UTF-8"),
    (b"a" + struct.pack(">I", 2) + b"|O" + b"\x00" + struct.pack(">Q", 0), "not allowed"),
    (b"a" + struct.pack(">I", 3) + b"<f8" + b"\x01" + struct.pack(">QQ", 3, 8) + b"\x00" * 8, "needs 24 bytes"),
    (b"p" + struct.pack(">I", 6) + b"object" + b"\x00" + struct.pack(">Q", 0), "not allowed"),
    (b"l\x00\x00\x00\x01" * 70 + b"N", "nested deeper"),
    (b"Z", "unknown tag"),
    (b"", "truncated"),
])
def test_malformed_inputs_say_what_is_wrong(raw, words):
    with pytest.raises(ChannelError, match=words):
        decode(raw)


def test_encode_caps_message_size():
    with pytest.raises(ChannelError, match="larger than the cap"):
        encode("x" * 1000, max_bytes=100)


def test_frame_reader_caps_per_message_and_per_submission():
    a, b = socket.socketpair()
    try:
        r = channel.FrameReader(a, max_message=64, max_total=200)
        b.sendall(channel.frame(encode("hi")))
        assert decode(r.read(timeout=5)) == "hi"
        b.sendall(struct.pack(">I", 65) + b"x" * 65)
        with pytest.raises(ChannelError, match="over the cap of 64 bytes per message"):
            r.read(timeout=5)
        r2 = channel.FrameReader(a, max_message=64, max_total=200)
        sender = threading.Thread(target=lambda: [b.sendall(channel.frame(b"N" * 50)) for _ in range(5)], daemon=True)
        sender.start()
        with pytest.raises(ChannelError, match="cap per submission"):
            for _ in range(5):
                r2.read(timeout=5)
        sender.join(timeout=5)
        with pytest.raises(channel.ChannelTimeout):
            channel.FrameReader(b).read(timeout=0.05)
    finally:
        a.close()
        b.close()
    # a closed channel (on a fresh pair: the capped reader above may leave frames unread in `a`)
    c, d = socket.socketpair()
    try:
        d.sendall(channel.frame(encode("last")))
        d.close()
        reader = channel.FrameReader(c)
        assert decode(reader.read(timeout=5)) == "last"  # what was sent before the close still arrives
        with pytest.raises(channel.ChannelClosed):
            reader.read(timeout=5)
    finally:
        c.close()


def test_decode_rejects_non_bytes():
    with pytest.raises(ChannelError, match="takes bytes"):
        decode("N")  # type: ignore[arg-type]


# ---- an independent decoder, written from the format table in channel's docstring -------------
def reference_decode(data: bytes):
    def val(i):
        tag = data[i:i + 1]
        i += 1
        if tag in (b"N", b"T", b"F"):
            return {b"N": None, b"T": True, b"F": False}[tag], i
        if tag == b"i":
            (n,) = struct.unpack_from(">I", data, i)
            return int.from_bytes(data[i + 4:i + 4 + n], "big", signed=True), i + 4 + n
        if tag == b"f":
            return struct.unpack_from(">d", data, i)[0], i + 8
        if tag in (b"s", b"b"):
            (n,) = struct.unpack_from(">I", data, i)
            raw = data[i + 4:i + 4 + n]
            return (raw.decode("utf-8", "surrogatepass") if tag == b"s" else raw), i + 4 + n
        (n,) = struct.unpack_from(">I", data, i)
        i += 4
        items = []
        for _ in range(n * (2 if tag == b"d" else 1)):
            v, i = val(i)
            items.append(v)
        if tag == b"d":
            return dict(zip(items[::2], items[1::2])), i
        return (items if tag == b"l" else tuple(items)), i

    v, end = val(0)
    assert end == len(data)
    return v
