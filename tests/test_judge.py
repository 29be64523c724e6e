"""The judge against a real runner process (no namespaces, so it is quick): what a test cell sees
of the sandbox (issue #12, SPEC section 2). Copies of plain data with the judge's own types,
handles with identity semantics, remote(), exceptions mapped to the judge's classes (an
exception class of the lab's arrives as the judge's class of that name), judge-side objects
refused as arguments, and a sandbox that dies or lies ending the submission with a reason."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from autograder import channel
from autograder.judge import Judge, Remote, RemoteError, SandboxLost, Session


@pytest.fixture()
def sandbox():
    mine, theirs = channel.socketpair()
    env = dict(os.environ, MLSYS_CHANNEL_FD=str(theirs.fileno()), MLSYS_CELL_SECONDS="5", MLSYS_REQUEST_SECONDS="2")
    proc = subprocess.Popen([sys.executable, "-m", "autograder.runner"], pass_fds=(theirs.fileno(),), env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    theirs.close()
    session = Session(mine, request_seconds=2, grace=3)
    session.wait_ready(60)
    yield session, Judge(session, test_seconds=30)
    mine.close()
    proc.kill()
    proc.wait()


STUDENT = '''
class OutOfBlocks(RuntimeError):
    pass

class AlwaysEqual:
    def __eq__(self, other):
        return True

class Sneaky(int):
    def __eq__(self, other):
        return True

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

def append_to(xs, x):
    xs.append(x)
    return xs

DATA = {"a": [1, 2.5, "x", None, True, (3, b"b")]}
'''


def run(judge: Judge, code: str) -> list[dict]:
    return judge.run_test(code, "t")


def test_plain_values_are_copies_with_the_judges_types(sandbox):
    session, judge = sandbox
    assert session.run_cell(STUDENT, 5) == []
    assert run(judge, "assert DATA == {'a': [1, 2.5, 'x', None, True, (3, b'b')]}\n"
                      "assert type(DATA['a'][4]) is bool and type(DATA['a'][5]) is tuple\n"
                      "DATA['a'].append(9)\nassert len(DATA['a']) == 6  # a fresh copy at every read") == []


def test_lies_do_not_pass(sandbox):
    session, judge = sandbox
    session.run_cell(STUDENT, 5)
    outs = run(judge, "assert lying() == 1")
    assert outs[-1]["ename"] == "AssertionError"
    assert run(judge, "x = lying()\nassert x != 1 and x is not None and type(x) is not int\n"
                      "assert type(sneaky()) is not int and sneaky() != 3") == []


def test_handles_have_identity_and_forward_calls(sandbox):
    session, judge = sandbox
    session.run_cell(STUDENT, 5)
    code = ("p = Pool(2)\nassert p.allocate() == 1 and len(p) == 1 and p.free == [0]\n"
            "assert p is p and p == p and p != Pool(2) and {p: 1}[p] == 1\n"
            "assert type(p) is Remote or type(p).__name__ == 'Pool'\n"
            "xs = remote([])\nassert append_to(xs, 5) == [5] and list(xs) == [5] and len(xs) == 1  # returned: a copy\n")
    judge.ns["Remote"] = Remote
    assert run(judge, code) == []


def test_exceptions_arrive_as_the_judges_classes(sandbox):
    session, judge = sandbox
    session.run_cell(STUDENT, 5)
    code = ("p = Pool(0)\ntry:\n    p.allocate()\n    raise AssertionError('must raise')\nexcept OutOfBlocks as e:\n"
            "    assert isinstance(e, RuntimeError) and 'empty' in str(e)\n"
            "try:\n    undefined_name\nexcept NameError:\n    pass\n")
    assert run(judge, code) == []
    outs = run(judge, "Pool(0).allocate()")
    assert outs[-1]["ename"] == "OutOfBlocks" and "raised in the sandbox" in outs[-1]["traceback"][-1]


def test_judge_side_objects_cannot_be_sent(sandbox):
    session, judge = sandbox
    session.run_cell(STUDENT, 5)
    outs = run(judge, "append_to(remote([]), lambda: 0)")
    assert outs[-1]["ename"] == "ChannelError" and "cannot be sent to the sandbox" in outs[-1]["evalue"]


def test_a_hanging_request_ends_the_submission(sandbox):
    session, judge = sandbox
    session.run_cell("import signal, time\n"
                     "def hang():\n    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n    time.sleep(60)\n", 5)
    with pytest.raises(SandboxLost, match="did not stop"):
        run(judge, "hang()")
    with pytest.raises(SandboxLost):
        session.run_cell("1", 5)  # the session stays lost


def test_a_request_that_times_out_fails_the_test_only(sandbox):
    session, judge = sandbox
    session.run_cell("def spin():\n    while True:\n        pass\n", 5)
    outs = run(judge, "spin()")
    assert outs[-1]["ename"] == "CellTimeout" and issubclass(RemoteError, Exception)
    assert run(judge, "assert 1 + 1 == 2") == []


def test_a_sandbox_that_dies_ends_the_submission(sandbox):
    session, judge = sandbox
    with pytest.raises(SandboxLost, match="the kernel died"):
        session.run_cell("import os\nos._exit(3)", 5)


def test_a_module_read_from_the_notebook_is_the_judges_own(sandbox):
    session, judge = sandbox
    session.run_cell("import math\nmath.isclose = lambda *a, **k: True\nimport json as j2\n", 5)
    assert run(judge, "assert not math.isclose(1.0, 2.0)\nassert j2.dumps([1]) == '[1]'") == []
