"""The judge against a real runner process (no namespaces, so it is quick): what a test cell sees
of the sandbox (issues #12 and #23). The judge owns every name but the lab's answers; locked cells
run in both places and what a test reads of them is the judge's; plain values arrive with the
judge's own types; arguments cross with identity, by value-result (what student code does to an
argument reaches the test's object, and what a test does to a value student code returned reaches
the student's, at the next crossing); the lab's objects, functions and classes cross; str enums
and numpy scalars arrive as their base values; lies, judge-side code and student objects planted
in the test's objects are refused; exceptions map to the judge's and the lab's classes; a sandbox
that hangs, dies or lies ends the submission with a reason."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from autograder.submission import channel
from autograder.submission.decoder import decode
from autograder.submission.judge import Judge, Remote, SandboxLost, Session
from autograder.submission.names import RemoteError, bound_names, lab_answers

LOCKED = '''
import math
from collections import deque
from dataclasses import dataclass

class OutOfBlocks(RuntimeError):
    pass

@dataclass(frozen=True)
class Config:
    layers: int
    hidden: int = 8

class Queue:
    """A lab object: a scheduler-like thing student code changes in place."""
    def __init__(self, items):
        self.waiting = deque(items)
        self.running = []
        self.now = 0.0

class Item:
    def __init__(self, rid):
        self.rid = rid
        self.events = []

def helper(x):
    return x + 1

LIMIT = 3
'''

STUDENT = '''
import enum
import numpy as np

class AlwaysEqual:
    def __eq__(self, other):
        return True

class Sneaky(int):
    def __eq__(self, other):
        return True

class Color(enum.StrEnum):
    RED = "red"

class Pool:
    def __init__(self, n):
        self.free = list(range(n))
    def allocate(self):
        if not self.free:
            raise OutOfBlocks("pool is empty")
        return self.free.pop()
    def __len__(self):
        return len(self.free)

def lying():
    return AlwaysEqual()

def sneaky():
    return Sneaky(3)

def color():
    return Color.RED

def np_scalars():
    return np.int64(7), np.float32(0.5), np.bool_(True)

def append_to(xs, x):
    xs.append(x)
    return xs

def admit(q):
    item = q.waiting.popleft()
    item.events.append((q.now, "admitted"))
    q.running.append(item)
    return item

def width(cfg):
    return cfg.layers * cfg.hidden

def call_helper(f, x):
    return f(x)

def stash(x):
    global STASH
    STASH = x

def poke(v):
    STASH.append(v)

def view_of(t):
    return t[1:3]

def fresh(n):
    global BUF
    BUF = [0] * n
    return BUF

def buf():
    return list(BUF)

def leak(xs):
    xs.append(Pool(1))

math = type("fake", (), {"isclose": staticmethod(lambda *a, **k: True)})
LIMIT = 1000
DATA = {"a": [1, 2.5, "x", None, True, (3, b"b")]}
'''

ANSWERS = ["AlwaysEqual", "Sneaky", "Color", "Pool", "lying", "sneaky", "color", "np_scalars", "append_to", "admit",
           "width", "call_helper", "stash", "poke", "view_of", "fresh", "buf", "leak", "DATA"]


@pytest.fixture()
def sandbox():
    mine, theirs = channel.socketpair()
    env = dict(os.environ, MLSYS_CHANNEL_FD=str(theirs.fileno()), MLSYS_CELL_SECONDS="60", MLSYS_REQUEST_SECONDS="2")
    proc = subprocess.Popen([sys.executable, "-m", "autograder.submission.runner"], pass_fds=(theirs.fileno(),), env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    theirs.close()
    session = Session(mine, request_seconds=2, grace=3)
    session.wait_ready(60)
    judge = Judge(session, test_seconds=30, answers=ANSWERS)
    yield session, judge
    mine.close()
    proc.kill()
    proc.wait()


def setup(session: Session, judge: Judge, student: str = STUDENT) -> None:
    """The lab's locked cell in both places (as the grader runs it), then the student's cell."""
    assert session.run_cell(LOCKED, 5, bound_names(LOCKED)) == []
    judge.run_locked(LOCKED, "setup")
    assert judge.notes == []
    assert session.run_cell(student, 5) == []


def run(judge: Judge, code: str) -> list[dict]:
    return judge.run_test(code, "t")


def ok(judge: Judge, code: str) -> None:
    outs = run(judge, code)
    assert not [o for o in outs if o["output_type"] == "error"], outs


def test_answers_are_what_the_solution_cells_bind():
    assert lab_answers(["def f(x):\n    y = 1\n    return y\n", "class A:\n    pass\nX, (Y, Z) = 1, (2, 3)\n"
                        "import math as m\nfor i in range(2):\n    pass\n"]) == ["f", "A", "X", "Y", "Z", "m", "i"]


def test_only_answers_are_read_from_the_sandbox(sandbox):
    session, judge = sandbox
    setup(session, judge)
    # the student rebound math and LIMIT in their notebook: the test reads the judge's own
    ok(judge, "assert not math.isclose(1.0, 2.0) and LIMIT == 3 and helper(1) == 2")
    outs = run(judge, "STASH_NAME_NOT_AN_ANSWER")
    assert outs[-1]["ename"] == "NameError"
    session.run_cell("secret_name = 41", 5)  # defined in the notebook, but no answer: never read
    assert run(judge, "secret_name")[-1]["ename"] == "NameError"


def test_plain_values_arrive_with_the_judges_types(sandbox):
    session, judge = sandbox
    setup(session, judge)
    ok(judge, "assert DATA == {'a': [1, 2.5, 'x', None, True, (3, b'b')]}\n"
              "assert type(DATA['a'][4]) is bool and type(DATA['a'][5]) is tuple and type(DATA) is dict\n"
              "c = color()\nassert type(c) is str and c == 'red'  # a str enum: its value\n"
              "i, f, b = np_scalars()\nassert (type(i), type(f), type(b)) == (int, float, bool) and i == 7\n")


def test_lies_do_not_pass(sandbox):
    session, judge = sandbox
    setup(session, judge)
    assert run(judge, "assert lying() == 1")[-1]["ename"] == "AssertionError"
    ok(judge, "x = lying()\nassert x != 1 and x is not None and type(x) is not int\n"
              "assert type(sneaky()) is not int and sneaky() != 3  # a student's int subclass stays a handle")


def test_handles_have_identity_and_forward_calls(sandbox):
    session, judge = sandbox
    setup(session, judge)
    judge.ns["Remote"] = Remote
    ok(judge, "p = Pool(2)\nassert p.allocate() == 1 and len(p) == 1 and p.free == [0]\n"
              "assert p is p and p == p and p != Pool(2) and {p: 1}[p] == 1 and type(p) is Remote\n")


def test_arguments_cross_by_value_result_with_identity(sandbox):
    session, judge = sandbox
    setup(session, judge)
    ok(judge, "xs = []\nys = append_to(xs, 5)\nassert xs == [5] and ys is xs  # changed in place, returned itself\n"
              "a, b = Item(0), Item(1)\nq = Queue([a, b])\nq.now = 2.5\n"
              "got = admit(q)\nassert got is a and q.running == [a] and q.running[0] is a and list(q.waiting) == [b]\n"
              "assert a.events == [(2.5, 'admitted')] and type(q.waiting).__name__ == 'deque'\n"
              "assert admit(q) is b and q.running == [a, b] and not q.waiting\n"
              "assert width(Config(3, 4)) == 12 and call_helper(helper, 4) == 5  # a frozen dataclass, a lab function\n")


def test_what_a_test_does_to_a_returned_value_reaches_the_student(sandbox):
    session, judge = sandbox
    setup(session, judge)
    ok(judge, "b = fresh(3)\nb[0] = 9\nassert buf() == [9, 0, 0]  # the student's own list, changed by the test\n"
              "keep = []\nstash(keep)\npoke(4)\npoke(5)\nassert keep == [4, 5]  # changed later, through a stash\n")


def test_tensors_change_in_place_both_ways(sandbox):
    session, judge = sandbox
    setup(session, judge)
    session.run_cell("import torch\ndef scale_(t):\n    t.mul_(2)\n", 60)
    judge.ns.answers = frozenset(ANSWERS + ["scale_"])
    ok(judge, "import torch\nt = torch.arange(4.0)\nscale_(t)\nassert t.tolist() == [0.0, 2.0, 4.0, 6.0]\n"
              "v = view_of(t)\nv.fill_(-1.0)\nscale_(torch.zeros(1))  # any crossing carries the change\n"
              "assert t.tolist() == [0.0, -1.0, -1.0, 6.0]  # the student's view of t, written by the test\n")


def test_judge_side_code_and_planted_objects_are_refused(sandbox):
    session, judge = sandbox
    setup(session, judge)
    outs = run(judge, "append_to([], lambda: 0)")
    assert outs[-1]["ename"] == "ChannelError" and "cannot be sent to the sandbox" in outs[-1]["evalue"]
    outs = run(judge, "leak([])")
    assert outs[-1]["ename"] == "ValueError" and "object of its own" in outs[-1]["evalue"]
    ok(judge, "assert append_to([1], 2) == [1, 2]  # the session goes on")


def test_exceptions_arrive_as_the_judges_classes(sandbox):
    session, judge = sandbox
    setup(session, judge)
    ok(judge, "p = Pool(0)\ntry:\n    p.allocate()\n    raise AssertionError('must raise')\nexcept OutOfBlocks as e:\n"
              "    assert isinstance(e, RuntimeError) and 'empty' in str(e)\n")
    outs = run(judge, "Pool(0).allocate()")
    assert outs[-1]["ename"] == "OutOfBlocks" and "raised in the sandbox" in outs[-1]["traceback"][-1]
    assert issubclass(type(judge.ns["OutOfBlocks"]), type) and issubclass(RemoteError, Exception)


def test_many_calls_do_not_grow_the_tables(sandbox):
    session, judge = sandbox
    setup(session, judge)
    ok(judge, "for i in range(300):\n    assert append_to([i], i) == [i, i]\n")
    assert len(session.nodes.objects) < 10


def test_a_hanging_request_ends_the_submission(sandbox):
    session, judge = sandbox
    session.run_cell("import signal, time\n"
                     "def hang():\n    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n    time.sleep(60)\n", 5)
    judge.ns.answers = frozenset(["hang"])
    with pytest.raises(SandboxLost, match="did not stop"):
        run(judge, "hang()")
    with pytest.raises(SandboxLost):
        session.run_cell("1", 5)  # the session stays lost


def test_a_request_that_times_out_fails_the_test_only(sandbox):
    session, judge = sandbox
    session.run_cell("def spin():\n    while True:\n        pass\n", 5)
    judge.ns.answers = frozenset(["spin"])
    outs = run(judge, "spin()")
    assert outs[-1]["ename"] == "CellTimeout"
    ok(judge, "assert 1 + 1 == 2")


def test_a_sandbox_that_dies_ends_the_submission(sandbox):
    session, judge = sandbox
    with pytest.raises(SandboxLost, match="the kernel died"):
        session.run_cell("import os\nos._exit(3)", 5)


def test_a_sandbox_that_lies_about_nodes_ends_the_submission(sandbox):
    """Forged replies: a node the judge never made, of a class it never sent, or of another type
    than the judge's object under that key, are protocol errors."""
    session, judge = sandbox
    setup(session, judge)
    xs: list = []
    judge.ns["xs"] = xs
    ok(judge, "append_to(xs, 1)")  # xs now has a judge key the sandbox knows
    key = session.nodes.keys[id(xs)]
    for forged in (b"m" + key.to_bytes(8, "big") + b"d\x00\x00\x00\x00",  # a dict under a list's key
                   b"r" + (12345).to_bytes(8, "big"),  # a node nobody made
                   b"o\x00\x00\x00\x0ckit:os:_Envi" + b"d\x00\x00\x00\x00"):  # a class the judge never sent
        with pytest.raises(channel.ChannelError):
            decode(forged, None, session.nodes)
