"""Grading a class that wants a higher grade (issue #12): a corpus of hostile and broken
submissions built from the released lab 0, graded in one batch at --jobs 2, each with the exact
status, score and note it must get. The routes are those of the issue: limits, the instructor's
cells, tampering with the interpreter, the grader's own state reached from inside (frame walk
from a function the tests call, a patched serialiser, a thread, the runner object, forged channel
messages), values that lie, the reference implementation taken four ways, and what the sandbox
can see and touch (the course, the repository, a root-only file, /dev/shm and /tmp, /sys,
inherited descriptors, output amplification). The 200-submission batch is in
tests/test_grading_batch.py."""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

import nbformat
import pytest

from grading_helpers import FULL, LAB, ROOT, cell, grade, new_course


def without(nb, gid: str):
    nb = nbformat.from_dict(nb)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != gid]
    return nb


ALWAYS_EQUAL = "class AlwaysEqual:\n    def __eq__(self, other):\n        return True\n\n"
SNEAKY_INT = "class Sneaky(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n\n"
WRONG_INTENSITY = ("def gemm_intensity(m, n, k, dtype_bytes=2):\n    return 0.0\n\n"
                   "def bound(intensity, peak_flops, bandwidth):\n    return 'compute' if intensity >= peak_flops / bandwidth "
                   "else 'memory'\n")
FIND_RUNNER = ("import gc\n"
               "runner = next(o for o in gc.get_objects() if type(o).__name__ == 'Runner' and hasattr(o, 'serve'))\n")

# a function the judge calls: it walks every frame above it for anything secret (hidden test text, the gradebook),
# then fails saying what it saw; the words are built at run time, so its own source does not match
FRAME_WALK = """
import sys
def param_count(cfg):
    found, f = [], sys._getframe()
    while f is not None:
        for k, v in list(f.f_locals.items()) + list(f.f_globals.items()):
            text = repr(v)[:100000]
            if any(s in text for s in ("BEGIN " + "HIDDEN", "_ref" + ".", "68_976" + "_648_192", "grade" + "book")):
                found.append(k)
        f = f.f_back
    raise RuntimeError(f"secrets in the frames above: {sorted(set(found))}")
"""
# the function that serialises replies, patched: failures become successes, every float becomes 1.0
PATCHED_SERIALISER = (WRONG_INTENSITY + "from autograder.submission import channel\n_enc = encode\n"
                      "def encode(value, *a, **k):\n"
                      "    if type(value) is dict and 'error' in value:\n        value = {'ok': True}\n"
                      "    elif type(value) is dict and type(value.get('ok')) is float:\n        value = {'ok': 1.0}\n"
                      "    return _enc(value, *a, **k)\n"
                      "encode = encode\n")
# a thread named like IPython's own finds the runner and answers everything with GPT-2's parameter count
THREAD = ("import threading, time\n"
          "def forge():\n" + "".join("    " + line + "\n" for line in FIND_RUNNER.splitlines())
          + "    from autograder.submission import channel\n"
          "    runner.reply = lambda value: runner.sock.sendall(channel.frame(encode({'ok': 124_439_808})))\n"
          "threading.Thread(target=forge, name='IPythonHistorySavingThread', daemon=True).start()\n"
          "time.sleep(1)\n")
RUNNER_OBJECT = (FIND_RUNNER + "_serve = runner.serve\n"
                 "def serve(req):\n    return 124_439_808 if req.get('op') == 'call' else _serve(req)\n"
                 "runner.serve = serve\n")
FORGED_MESSAGE = ("import os, struct, socket\n"
                  "for fd in map(int, os.listdir('/proc/self/fd')):\n"
                  "    try:\n        s = socket.socket(fileno=os.dup(fd))\n    except OSError:\n        continue\n"
                  "    s.sendall(struct.pack('>I', 0xFFFFFFF0) + b'i\\x00\\x00\\x00\\x01\\x0c')\n")
AS_REF = "asdict(cfg)"
REF_IMPORTLIB = ("import importlib\nfrom dataclasses import asdict\n_costs = importlib.import_module('mlsys_kit.' + 'models.' + 'co' + 'sts')\n"
                 "def param_count(cfg):\n    return _costs.param_count(_costs.TransformerConfig(**%s))\n" % AS_REF)
REF_IN_FUNCTION = ("def param_count(cfg):\n    from dataclasses import asdict\n    from mlsys_kit.models import costs\n"
                   "    return costs.param_count(costs.TransformerConfig(**%s))\n" % AS_REF)
REF_FILE = ("import os, sys, types, mlsys_kit\nfrom dataclasses import asdict\n"
            "_path = os.path.join(os.path.dirname(mlsys_kit.__file__), 'models', 'costs' + '.py')\n"
            "mine = sys.modules['mine'] = types.ModuleType('mine')\nexec(open(_path).read(), mine.__dict__)\n"
            "def param_count(cfg):\n    return mine.param_count(mine.TransformerConfig(**%s))\n" % AS_REF)
SHM_WRITER = ("import os, time\nfor d in ('/dev/shm', '/tmp'):\n    open(os.path.join(d, 'planted-by-writer'), 'w').write('x')\n"
              "time.sleep(2)\n")
SHM_READER = "import os\nprint('SHM', sorted(os.listdir('/dev/shm')), 'TMP', sorted(os.listdir('/tmp')))\n"
SYS_WRITE = ("import glob\nfor p in glob.glob('/sys/fs/cgroup/pids/**/pids.max', recursive=True)[:3] + "
             "['/proc/sys/kernel/pid_max']:\n"
             "    try:\n        open(p, 'w').write('max')\n        print('WROTE', p)\n    except OSError as e:\n"
             "        print('blocked', e.errno)\n")
FDS = ("import os\n_fds = {}\nfor fd in os.listdir('/proc/self/fd'):\n    try:\n"
       "        _fds[int(fd)] = os.readlink('/proc/self/fd/' + fd)\n    except OSError:\n        pass\nprint('FDS', _fds)\n")
AMPLIFY = ("from IPython.display import display\n"
           "display({f'text/x-{i}': 'x' * 1_000_000 for i in range(120)}, raw=True)\n")
READ_REPO = ("import os\nfor p in ({repo!r} + '/labs/source/lab0-costs/lab0-costs.ipynb', {repo!r} + '/autograder/course/batch.py',\n"
             "          {repo!r} + '/autograder/mutants'):\n"
             "    try:\n        open(p).read()\n        print('READ', p)\n    except OSError as e:\n        print('blocked', e.errno)\n"
             "print('REPO', sorted(os.listdir({repo!r})), sorted(os.listdir({repo!r} + '/autograder')))\n")
READ_ROOT_ONLY = "try:\n    print('READ', open({path!r}).read())\nexcept OSError as e:\n    print('blocked', e.errno)\n"
PRINT_FILE = "try:\n    print(open({path!r}).read())\nexcept OSError as e:\n    print('blocked', e)\n"
WRITE_FILE = "try:\n    open({path!r}, 'w').write('x')\nexcept OSError as e:\n    print('blocked', e)\n"
NETWORK = ("import socket\ntry:\n    socket.create_connection(('1.1.1.1', 80), timeout=3)\n    print('ONLINE')\n"
           "except OSError as e:\n    print('offline', e)\n")


def corpus(release, solved, course: Path, secret: Path) -> dict[str, tuple]:
    """name: (notebook or raw text, status, score, words the reason or a note must contain; None:
    no note at all)."""
    stub = release
    source_nb = str(course / "source" / LAB / (LAB + ".ipynb"))
    return {
        # limits
        "infinite-loop": (cell(solved, "param_count", "while True:\n    pass"), "graded", 8, "ran past 3 s"),
        "memory-bomb": (cell(solved, "kv_bytes", prepend="x = bytearray(40 * 2**30)\n"), "graded", 9, None),
        "fork-bomb": (cell(solved, "kv_bytes", prepend="import os\nwhile True:\n    os.fork()\n"), "graded", 9, None),
        "giant-output": (cell(solved, "kv_bytes", prepend="print('x' * 20_000_000)\n"), "graded", FULL,
                         "printed more than"),
        "output-amplification": (cell(solved, "kv_bytes", prepend=AMPLIFY), "graded", FULL, "MIME types"),
        "system-exit": (cell(solved, "kv_bytes", prepend="raise SystemExit(0)\n"), "graded", 9, None),
        "huge-file": (cell(solved, "kv_bytes", prepend="open('big.bin', 'wb').write(b'0' * (100 * 2**20))\n"),
                      "graded", 9, None),
        "kills-kernel": (cell(solved, "kv_bytes", "import os\nos._exit(1)\n"), "error", 0, "the kernel died"),
        "ignores-alarm-sleeps": (cell(solved, "kv_bytes", "import signal, time\nsignal.signal(signal.SIGALRM, "
                                      "signal.SIG_IGN)\ntime.sleep(10**6)\n"), "error", 0, "did not stop"),
        # the instructor's cells
        "deleted-test-cell": (without(solved, "test_kv_bytes"), "graded", FULL, "'test_kv_bytes' was deleted"),
        "edited-test-cells": (_edit_tests(stub), "graded", 0, "'test_param_count' was edited"),
        # the interpreter tampered with: tests no longer run there, so none of it counts
        "input-transformer": (cell(stub, "param_count", "get_ipython().input_transformers_cleanup.append(\n"
                                   "    lambda lines: [l for l in lines if 'assert' not in l])\n"
                                   "def param_count(cfg):\n    return 0\n"), "graded", 0, None),
        "ast-transformer": (cell(stub, "param_count", "import ast\nclass NoAsserts(ast.NodeTransformer):\n"
                                 "    def visit_Assert(self, node):\n        return ast.Pass()\n"
                                 "get_ipython().ast_transformers.append(NoAsserts())\n"), "graded", 0, None),
        "custom-exception-handler": (cell(stub, "param_count", "get_ipython().set_custom_exc((BaseException,), "
                                          "lambda *a, **k: None)\n"), "graded", 0, None),
        "monkeypatch-library": (cell(solved, "roofline", "import math\nmath.isclose = lambda *a, **k: True\n"
                                     + WRONG_INTENSITY), "graded", 10, None),
        "builtins": (cell(solved, "param_count", ALWAYS_EQUAL + "import builtins\nbuiltins.type = lambda x: int\n"
                          "def param_count(cfg):\n    return AlwaysEqual()\n"), "graded", 8, None),
        "trace-function": (cell(stub, "param_count", "import sys\nsys.settrace(lambda *a: None)\n"), "graded", 0, None),
        # the grader's own state, reached from inside
        "frame-walk-from-callee": (cell(solved, "param_count", FRAME_WALK), "graded", 8, None),
        "patched-serialiser": (cell(solved, "roofline", PATCHED_SERIALISER), "graded", 10, None),
        # the forged reply either reaches the judge (a protocol break) or kills the runner first (its channel
        # closes): which comes first is a race between the thread and the cell; both end the grading
        "thread-patches-runner": (cell(stub, "param_count", THREAD), "error", 0,
                                  ("broke the grading protocol", "the kernel died")),
        "runner-object": (cell(stub, "param_count", RUNNER_OBJECT), "graded", 0, None),
        "forged-channel-message": (cell(solved, "kv_bytes", prepend=FORGED_MESSAGE), "error", 0,
                                   "broke the grading protocol"),
        # values that lie
        "always-equal": (cell(solved, "param_count", ALWAYS_EQUAL + "def param_count(cfg):\n    return AlwaysEqual()\n"),
                         "graded", 8, None),
        "always-equal-int": (cell(solved, "kv_bytes", SNEAKY_INT + "def kv_bytes_per_token(cfg):\n    return Sneaky(0)\n"),
                             "graded", 9, None),
        # the reference implementation, four ways: it is absent from the sandbox (0 points), and the
        # static check still flags the attempt (tests/test_sandbox_root.py takes the other routes)
        "reference-implementation": (cell(stub, "param_count", "from dataclasses import asdict\n"
                                          "from mlsys_kit.models import costs\ndef param_count(cfg):\n"
                                          "    return costs.param_count(costs.TransformerConfig(**asdict(cfg)))\n"),
                                     "graded", 0, "uses the reference implementation mlsys_kit.models.costs"),
        "reference-via-importlib": (cell(stub, "param_count", REF_IMPORTLIB), "graded", 0, "loads code by name"),
        "reference-imported-in-function": (cell(stub, "param_count", REF_IN_FUNCTION), "graded", 0,
                                           "imports mlsys_kit inside a function"),
        "reference-file-under-another-name": (cell(stub, "param_count", REF_FILE), "graded", 0,
                                              "reads a Python source file"),
        # what the sandbox can see and touch
        "read-hidden-tests": (cell(solved, "kv_bytes", prepend=PRINT_FILE.format(path=source_nb)), "graded", FULL, None),
        "touch-gradebook": (cell(solved, "kv_bytes", prepend=WRITE_FILE.format(path=str(course / "gradebook.db"))),
                            "graded", FULL, None),
        "read-repo": (cell(solved, "kv_bytes", prepend=READ_REPO.format(repo=str(ROOT))), "graded", FULL,
                      "reads a Python source file"),
        "read-root-only-file": (cell(solved, "kv_bytes", prepend=READ_ROOT_ONLY.format(path=str(secret))), "graded",
                                FULL, None),
        "network": (cell(solved, "kv_bytes", prepend=NETWORK), "graded", FULL, None),
        "shm-writer": (cell(solved, "kv_bytes", prepend=SHM_WRITER), "graded", FULL, None),
        "shm-reader": (cell(solved, "kv_bytes", prepend=SHM_READER), "graded", FULL, None),
        "sys-write": (cell(solved, "kv_bytes", prepend=SYS_WRITE), "graded", FULL, None),
        "inherited-fds": (cell(solved, "kv_bytes", prepend=FDS), "graded", FULL, None),
        # broken files
        "corrupt-notebook": ('{"cells": [ oops', "error", 0, "not a valid notebook"),
        "empty-file": ("", "error", 0, "the submitted notebook is an empty file"),
        "honest-solution": (solved, "graded", FULL, None),
        "honest-stub": (stub, "graded", 0, None),
    }


def _edit_tests(nb):
    nb = nbformat.from_dict(nb)
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade"):
            c.source = "pass  # tests? what tests"
    return nb


def write(inbox: Path, name: str, nb) -> None:
    (inbox / f"{name}.ipynb").write_text(nb if isinstance(nb, str) else nbformat.writes(nb))


def printed(course: Path, student: str) -> str:
    """Everything the autograded notebook of ``student`` shows as output, as one string."""
    nb = nbformat.read(course / "autograded" / student / LAB / f"{LAB}.ipynb", as_version=4)
    return json.dumps([c.get("outputs") for c in nb.cells if c.cell_type == "code"])


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    course = tmp_path_factory.mktemp("hostile")
    secret = Path("/var/tmp") / f"mlsys-root-only-{secrets.token_hex(4)}"  # outside the course, not under /tmp
    secret.write_text("ROOT-ONLY-SECRET")
    secret.chmod(0o600)
    try:
        release, solved = new_course(course)
        cases = corpus(release, solved, course, secret)
        inbox = tmp_path_factory.mktemp("inbox")
        for name, (nb, *_rest) in cases.items():
            write(inbox, name, nb)
        res = grade("collect", LAB, str(inbox), course=course)
        assert res.returncode == 0, res.stderr
        res = grade("autograde", LAB, "--jobs", "2", "--timeout", "3", "--notebook-timeout", "60", "--json",
                    course=course)
        assert res.returncode == 0, res.stderr
        planted = [p for p in os.listdir("/dev/shm") if "planted" in p]
    finally:
        secret.unlink()
    return course, cases, {r["student"]: r for r in json.loads(res.stdout)["results"]}, planted


CASES = ["infinite-loop", "memory-bomb", "fork-bomb", "giant-output", "output-amplification", "system-exit", "huge-file",
         "kills-kernel", "ignores-alarm-sleeps", "deleted-test-cell", "edited-test-cells", "input-transformer",
         "ast-transformer", "custom-exception-handler", "monkeypatch-library", "builtins", "trace-function",
         "frame-walk-from-callee", "patched-serialiser", "thread-patches-runner", "runner-object",
         "forged-channel-message", "always-equal", "always-equal-int", "reference-implementation",
         "reference-via-importlib", "reference-imported-in-function", "reference-file-under-another-name",
         "read-hidden-tests", "touch-gradebook", "read-repo", "read-root-only-file", "network", "shm-writer",
         "shm-reader", "sys-write", "inherited-fds", "corrupt-notebook", "empty-file", "honest-solution", "honest-stub"]


def test_corpus_is_the_list():
    assert len(CASES) == len(set(CASES)) >= 40


@pytest.mark.parametrize("name", CASES)
def test_each_submission_gets_the_outcome_it_must(hostile, name):
    course, cases, results, _ = hostile
    _nb, status, score, words = cases[name]
    r = results[name]
    assert (r["status"], r["score"]) == (status, score), r
    said = " | ".join([r.get("reason") or ""] + r.get("notes", []))
    if words:
        assert any(w in said for w in ((words,) if isinstance(words, str) else words)), said
    else:
        assert not r.get("notes"), r["notes"]  # no note where nothing happened that an instructor must know


def test_the_sandbox_shows_nothing_secret(hostile):
    course, _, _, _ = hostile
    assert "blocked" in printed(course, "read-hidden-tests") and "BEGIN HIDDEN" not in printed(course, "read-hidden-tests")
    assert "blocked" in printed(course, "touch-gradebook")
    repo = printed(course, "read-repo")
    assert "READ" not in repo and repo.count("blocked") == 3, repo
    assert "REPO ['.venv', 'autograder', 'mlsys_kit'] ['__init__.py', 'submission']" in repo, repo
    root_only = printed(course, "read-root-only-file")
    assert "blocked" in root_only and "ROOT-ONLY-SECRET" not in root_only
    assert "offline" in printed(course, "network") and "ONLINE" not in printed(course, "network")
    # the frames above a function the judge calls hold nothing of the tests, the grade or the gradebook
    assert "secrets in the frames above: []" in printed(course, "frame-walk-from-callee")


def test_private_tmp_and_shm_read_only_sys_no_inherited_fds(hostile):
    course, _, _, planted = hostile
    # /tmp holds the working folder, and, when the checkout or its environment lives below /tmp
    # (a clone there), the top folder of the path the sandbox puts them back at (read-only)
    kept = sorted({"submission"} | {Path(p).resolve().parts[2] for p in (ROOT, sys.prefix)
                                     if Path(p).resolve().parts[1:2] == ("tmp",)})
    assert f"SHM [] TMP {kept}" in printed(course, "shm-reader")
    assert not planted, f"left in the host's /dev/shm: {planted}"
    sys_out = printed(course, "sys-write")
    assert "WROTE" not in sys_out and "blocked" in sys_out
    fds = printed(course, "inherited-fds")
    line = fds.split("FDS ", 1)[1].split("\\n", 1)[0]
    assert line.count("/dev/null") == 3 and line.count("socket:") == 1 and "pipe:" not in line, line


def test_output_is_capped_per_submission(hostile):
    course, _, _, _ = hostile
    for student in ("output-amplification", "giant-output"):
        size = (course / "autograded" / student / LAB / f"{LAB}.ipynb").stat().st_size
        assert size < 6 * 2**20, (student, size)


def test_feedback_names_tests_but_hides_hidden_code(hostile):
    course, _, _, _ = hostile
    res = grade("feedback", LAB, course=course)
    assert res.returncode == 0, res.stderr
    page = (course / "feedback" / "honest-stub" / LAB / f"{LAB}.html").read_text()
    assert "test_param_count" in page and "hidden test lines (not shown)" in page
    assert "_ref.param_count" not in page and "68_976_648_192" not in page  # hidden test code


def test_class_summary_and_export(hostile, tmp_path):
    course, cases, _, _ = hostile
    res = grade("summary", LAB, "--json", course=course)
    assert res.returncode == 0, res.stderr
    s = json.loads(res.stdout)
    assert s["students"] == len(cases)
    assert sum(s["score_distribution"]["test_param_count"].values()) == s["status"]["graded"]
    assert any("inside a function" in f for f in s["flags"]["reference-imported-in-function"])
    res = grade("export", "--to", str(tmp_path / "g.csv"), "--format", "canvas", course=course)
    assert res.returncode == 0, res.stderr
    lines = (tmp_path / "g.csv").read_text().splitlines()
    assert len(lines) == 1 + len(cases) and next(l for l in lines if "honest-solution" in l).endswith(f",{FULL}")
