"""Crossing with identity (issue #23): the judge's and the sandbox's node tables, in one process.

A judge side (``JudgeNodes``) and a sandbox side (``Mirrors``) exchange messages as the grader's
do, strictly alternating. Properties (hypothesis): after every crossing the receiver's graph has
the sender's values and the same sharing (one object per key on each side), whatever the sender
changed in between (appends, removals, rebinding fields, new objects, cycles); unchanged nodes
travel as references, so a second send of the same graph is small; keys nothing refers to are
dropped on both sides. Hostile bytes given to the judge's side never make an object of a class it
did not send or the lab does not define, never change the type of an object it holds, and never
put a student handle inside one of the judge's objects: they decode, or raise ``ChannelError``.
"""

from __future__ import annotations

import random
from collections import OrderedDict, deque

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.submission.decoder import decode
from autograder.submission.encoder import encode
from autograder.submission.channel import ChannelError, Handle
from autograder.submission.names import JudgeNodes, LabRegistry
from autograder.submission.runner import Handles, Mirrors


class Item:
    """A lab object (a class a locked cell defines), on both sides."""

    def __init__(self, rid, events=None):
        self.rid = rid
        self.events = [] if events is None else events


Item.__module__ = "__judge__"


class Pair:
    """The two ends, in one process: the same lab class on both sides, by name."""

    def __init__(self):
        reg = LabRegistry()
        reg.record(["Item"], {"Item": Item, "__name__": "__judge__"})
        self.judge = JudgeNodes(reg)
        self.sandbox = Mirrors()
        self.sandbox.record(["Item"], {"Item": Item, "__name__": "__judge__"})
        self.handles = Handles()

    def to_sandbox(self, value):
        data = encode(value, None, nodes=self.judge)
        return decode(data, self.handles.get, self.sandbox), len(data)

    def to_judge(self, value):
        data = encode(value, self.handles, nodes=self.sandbox)
        return decode(data, None, self.judge), len(data)


def shape(v, seen=None):
    """A value's content and sharing pattern: objects numbered in the order first met."""
    seen = {} if seen is None else seen
    t = type(v)
    if t in (list, tuple, deque, set, frozenset, dict, OrderedDict, Item):
        if id(v) in seen:
            return ("ref", seen[id(v)])
        seen[id(v)] = len(seen)
        if t is Item:
            return ("Item", shape(v.rid, seen), shape(v.events, seen))
        if t in (dict, OrderedDict):
            return (t.__name__, tuple((shape(k, seen), shape(x, seen)) for k, x in v.items()))
        items = sorted(v, key=repr) if t in (set, frozenset) else v
        return (t.__name__, tuple(shape(x, seen) for x in items))
    return (t.__name__, v)


scalars = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=5)


@st.composite
def graphs(draw):
    """A list of containers and Items with shared references (no cycle through tuples)."""
    pool: list = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["list", "dict", "deque", "item", "set", "od"]))
        refs = [draw(st.sampled_from(pool)) for _ in range(draw(st.integers(0, 2)))] if pool else []
        vals = draw(st.lists(scalars, max_size=3))
        if kind == "list":
            pool.append(vals + refs)
        elif kind == "dict":
            pool.append({f"k{i}": v for i, v in enumerate(vals + refs)})
        elif kind == "od":
            pool.append(OrderedDict((i, v) for i, v in enumerate(vals + refs)))
        elif kind == "deque":
            pool.append(deque(vals + refs, maxlen=draw(st.sampled_from([None, 10]))))
        elif kind == "set":
            pool.append({v for v in vals if v is not None})
        else:
            pool.append(Item(draw(st.integers(0, 9)), vals + [r for r in refs if type(r) is Item]))
    return pool


def mutate(pool: list, rng: random.Random) -> None:
    """Change some of the objects in place, the way test or student code does."""
    for obj in pool:
        r = rng.random()
        if type(obj) is list and r < 0.5:
            obj.append(rng.choice(pool) if rng.random() < 0.5 else rng.randint(0, 9))
        elif type(obj) is list and r < 0.7 and obj:
            obj.pop(rng.randrange(len(obj)))
        elif type(obj) in (dict, OrderedDict) and r < 0.5:
            obj[f"n{rng.randint(0, 3)}" if type(obj) is dict else rng.randint(0, 3)] = rng.choice(pool)
        elif type(obj) is deque and r < 0.5:
            obj.appendleft(rng.randint(0, 9))
        elif type(obj) is Item and r < 0.5:
            obj.rid += 1
            obj.events.append((rng.random(), "moved"))
        elif type(obj) is Item and r < 0.7:
            obj.events = [Item(rng.randint(0, 9))]  # a field rebound to a new list holding a new object


@given(graphs(), st.integers(0, 2**32 - 1))
@settings(max_examples=150, deadline=None)
def test_both_sides_converge_at_every_crossing(pool, seed):
    rng = random.Random(seed)
    pair = Pair()
    mirror, _ = pair.to_sandbox(pool)
    assert shape(mirror) == shape(pool) and mirror is not pool
    for _ in range(4):
        mutate(mirror, rng)                  # student code changes what it was given
        back, _ = pair.to_judge(None)        # any reply carries the changes
        assert back is None and shape(pool) == shape(mirror)
        mutate(pool, rng)                    # the test changes what it holds
        pair.to_sandbox(0)                   # any request carries them
        assert shape(mirror) == shape(pool)
    again, _ = pair.to_sandbox(pool)
    assert again is mirror  # the same graph arrives as the same object


def test_unchanged_nodes_travel_as_references():
    pair = Pair()
    seqs = [Item(i, [(0.0, "queued")] * 5) for i in range(30)]
    _, first = pair.to_sandbox(seqs)
    _, second = pair.to_sandbox(seqs)
    assert second < first / 20, (first, second)
    seqs[3].events.append((1.0, "prefill"))
    mirror, third = pair.to_sandbox(seqs)
    assert second < third < first / 5 and mirror[3].events[-1] == (1.0, "prefill")


def test_keys_nothing_refers_to_are_dropped_on_both_sides():
    pair = Pair()
    for i in range(200):
        out, _ = pair.to_sandbox([i, [i]])
        out.append(i)
        back, _ = pair.to_judge(out)
        assert back == [i, [i], i]
        del out, back
    assert len(pair.judge.objects) < 10 and len(pair.sandbox.objects) < 10


def test_tensors_keep_identity_and_views_carry_writes():
    pair = Pair()
    t = torch.arange(6.0)
    mirror, _ = pair.to_sandbox(t)
    view, _ = pair.to_judge(mirror[2:4])  # a view of the argument, returned: a new tensor in the judge
    view.fill_(-1.0)
    pair.to_sandbox(None)                 # the judge's write goes over with the next message ...
    pair.to_judge(None)                   # ... reaches the argument through the view, and comes back
    assert t.tolist() == [0.0, 1.0, -1.0, -1.0, 4.0, 5.0] and mirror.tolist() == t.tolist()


def test_cycles_through_objects_and_lists_cross():
    pair = Pair()
    a = Item(1)
    a.events.append(a)
    mirror, _ = pair.to_sandbox(a)
    assert mirror.events[0] is mirror and mirror is not a


def test_student_objects_inside_the_judges_objects_are_refused():
    pair = Pair()
    xs: list = []
    mirror, _ = pair.to_sandbox(xs)

    class Mine:
        pass

    mirror.append(Mine())
    with pytest.raises(ChannelError, match="object of its own"):
        pair.to_judge(None)
    # a list the student made may hold its own objects (they arrive as handles)
    data = encode([Mine()], pair.handles, nodes=Mirrors())
    assert type(decode(data, None, JudgeNodes(LabRegistry()))[0]) is Handle


@given(st.binary(max_size=120), st.sampled_from([b"m", b"r", b"o", b"c", b"x"]))
@settings(max_examples=600, deadline=None)
def test_hostile_node_bytes_on_the_judges_side(raw, tag):
    pair = Pair()
    held = [Item(0), [1, 2], {"a": 1}]
    pair.to_sandbox(held)
    keys = dict(pair.judge.keys)
    try:
        decode(tag + raw, lambda h: h, pair.judge)
    except ChannelError:
        pass
    for obj in held + [held[0].events]:  # what the judge holds keeps its key and its type
        assert pair.judge.keys.get(id(obj)) == keys.get(id(obj))
    assert type(held[0]) is Item and type(held[1]) is list and type(held[2]) is dict
    for obj in pair.judge.objects.values():
        assert type(obj) in (Item, list, dict, set, deque, OrderedDict, torch.Tensor) or \
            type(obj).__name__ == "ndarray"
        if type(obj) is Item:
            assert all(type(v) is not Handle for v in vars(obj).values())
