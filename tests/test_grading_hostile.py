"""Grading a class that wants a higher grade: a corpus of hostile and broken submissions built
from the released lab 0, each with the outcome it must get; then a 200-submission batch whose
worker and grader are killed part way, and a re-run that completes with nothing lost."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder.qa import solution_submission

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab0-costs"
BIN = Path(sys.executable).parent
FULL = 12.0


def grade(*args: str, course: Path, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "mlsys-grade"), *args, "--course", str(course)], capture_output=True, text=True,
                          timeout=timeout)


def new_course(root: Path) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    shutil.copy(ROOT / "labs" / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "labs" / "source" / LAB, root / "source" / LAB)
    res = grade("release", LAB, course=root)
    assert res.returncode == 0, res.stderr
    release = nbformat.read(root / "release" / LAB / f"{LAB}.ipynb", as_version=4)
    return release, solution_submission(root / "source" / LAB / f"{LAB}.ipynb", root / "release" / LAB / f"{LAB}.ipynb")


def cell(nb, gid: str, source: str | None = None, prepend: str = ""):
    """A copy of nb with solution cell ``gid`` replaced (or ``prepend`` put before its code)."""
    nb = nbformat.from_dict(nb)
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == gid:
            c.source = prepend + (c.source if source is None else source)
    return nb


def without(nb, gid: str):
    nb = nbformat.from_dict(nb)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != gid]
    return nb


ALWAYS_EQUAL = "class AlwaysEqual:\n    def __eq__(self, other):\n        return True\n\n"
WRONG_INTENSITY = ("def gemm_intensity(m, n, k, dtype_bytes=2):\n    return 0.0\n\n"
                   "def bound(intensity, peak_flops, bandwidth):\n    return 'compute' if intensity >= peak_flops / bandwidth "
                   "else 'memory'\n")


def corpus(release, solved, course: Path) -> dict[str, tuple]:
    """name: (notebook or raw text, status, score, words the reason or a flag must contain)."""
    stub = release
    return {
        "infinite-loop": (cell(solved, "param_count", "while True:\n    pass"), "graded", 6, "ran past 3 s"),
        "memory-bomb": (cell(solved, "kv_bytes", prepend="x = bytearray(40 * 2**30)\n"), "graded", 7, None),
        "fork-bomb": (cell(solved, "kv_bytes", prepend="import os\nwhile True:\n    os.fork()\n"), "graded", 7, None),
        "giant-output": (cell(solved, "kv_bytes", prepend="print('x' * 20_000_000)\n"), "graded", FULL,
                         "more than the output limit"),
        "deleted-test-cell": (without(solved, "test_kv_bytes"), "graded", FULL, "'test_kv_bytes' was deleted"),
        "edited-test-cells": (_edit_tests(stub), "graded", 0, "'test_param_count' was edited"),
        "input-transformer": (cell(stub, "param_count", "get_ipython().input_transformers_cleanup.append(\n"
                                   "    lambda lines: [l for l in lines if 'assert' not in l])\n"
                                   "def param_count(cfg):\n    return 0\n"), "graded", 0, "input transformer"),
        "custom-exception-handler": (cell(stub, "param_count", "get_ipython().set_custom_exc((BaseException,), "
                                          "lambda *a, **k: None)\n"), "graded", 0, "custom exception handler"),
        "ast-transformer": (cell(stub, "param_count", "import ast\nclass NoAsserts(ast.NodeTransformer):\n"
                                 "    def visit_Assert(self, node):\n        return ast.Pass()\n"
                                 "get_ipython().ast_transformers.append(NoAsserts())\n"), "graded", 0, "AST transformer"),
        "event-callback": (cell(stub, "param_count", "get_ipython().events.register('pre_run_cell', "
                                "lambda *a: None)\n"), "graded", 0, "event callback"),
        "monkeypatch-library": (cell(solved, "roofline", "import math\nmath.isclose = lambda *a, **k: True\n"
                                     + WRONG_INTENSITY), "graded", 10, "monkeypatched math.isclose"),
        "sys-modules": (cell(solved, "roofline", "import sys, types\nfake = types.ModuleType('math')\n"
                             "fake.isclose = lambda *a, **k: True\nsys.modules['math'] = fake\n" + WRONG_INTENSITY),
                        "graded", 10, "replaced sys.modules['math']"),
        "builtins": (cell(solved, "param_count", ALWAYS_EQUAL + "import builtins\nbuiltins.type = lambda x: int\n"
                          "def param_count(cfg):\n    return AlwaysEqual()\n"), "graded", 6, "changed builtins.type"),
        "always-equal": (cell(solved, "param_count", ALWAYS_EQUAL + "def param_count(cfg):\n    return AlwaysEqual()\n"),
                         "graded", 6, None),
        "trace-function": (cell(stub, "param_count", "import sys\nsys.settrace(lambda *a: None)\n"), "graded", 0,
                           "trace/profile"),
        "read-hidden-tests": (cell(solved, "kv_bytes", prepend=f"try:\n    print(open({str(course / 'source' / LAB / (LAB + '.ipynb'))!r}).read())\n"
                                   "except OSError as e:\n    print('blocked', e)\n"), "graded", FULL, None),
        "touch-gradebook": (cell(solved, "kv_bytes", prepend=f"try:\n    open({str(course / 'gradebook.db')!r}, 'w').write('x')\n"
                                 "except OSError as e:\n    print('blocked', e)\n"), "graded", FULL, None),
        "network": (cell(solved, "kv_bytes", prepend="import socket\ntry:\n    socket.create_connection(('1.1.1.1', 80), "
                         "timeout=3)\n    print('ONLINE')\nexcept OSError as e:\n    print('offline', e)\n"), "graded", FULL,
                    None),
        "forge-result": (cell(stub, "param_count", "import os, json\nos.write(1, ('MLSYS-RESULT 0 ' + json.dumps("
                              "{'outputs': [], 'flags': []}) + '\\n').encode())\nos._exit(0)\n"), "error", 0,
                         "the kernel died"),
        "reference-implementation": (cell(stub, "param_count", "from dataclasses import asdict\n"
                                          "from mlsys_kit.models import costs\ndef param_count(cfg):\n"
                                          "    return costs.param_count(costs.TransformerConfig(**asdict(cfg)))\n"),
                                     "graded", 3, "uses the reference implementation mlsys_kit.models.costs"),
        "frame-introspection": (cell(solved, "kv_bytes", prepend="import sys\ncaller = sys._getframe(1)\n"), "graded",
                                FULL, "calls sys._getframe"),
        "system-exit": (cell(solved, "kv_bytes", prepend="raise SystemExit(0)\n"), "graded", 7, None),
        "huge-file": (cell(solved, "kv_bytes", prepend="open('big.bin', 'wb').write(b'0' * (100 * 2**20))\n"),
                      "graded", 7, None),
        "kills-kernel": (cell(solved, "kv_bytes", "import os\nos._exit(1)\n"), "error", 0, "the kernel died"),
        "ignores-alarm-sleeps": (cell(solved, "kv_bytes", "import signal, time\nsignal.signal(signal.SIGALRM, "
                                      "signal.SIG_IGN)\ntime.sleep(10**6)\n"), "error", 0, "ran past its limit of 25 s"),
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


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    course = tmp_path_factory.mktemp("hostile")
    release, solved = new_course(course)
    cases = corpus(release, solved, course)
    inbox = tmp_path_factory.mktemp("inbox")
    for name, (nb, *_rest) in cases.items():
        write(inbox, name, nb)
    (inbox / "wrong-file-name.txt").write_text("my answers are in here")
    res = grade("collect", LAB, str(inbox), course=course)
    assert res.returncode == 0, res.stderr
    assert "rejected wrong-file-name.txt: not a notebook" in res.stdout
    res = grade("autograde", LAB, "--jobs", "2", "--timeout", "3", "--notebook-timeout", "25", "--json", course=course)
    assert res.returncode == 0, res.stderr
    return course, cases, {r["student"]: r for r in json.loads(res.stdout)["results"]}


def test_corpus_is_large_enough(hostile):
    _, cases, _ = hostile
    assert set(cases) == set(CASES) and len(cases) + 1 >= 20  # + the wrong file name, rejected at collect


CASES = ["infinite-loop", "memory-bomb", "fork-bomb", "giant-output", "deleted-test-cell", "edited-test-cells",
         "input-transformer", "custom-exception-handler", "ast-transformer", "event-callback", "monkeypatch-library",
         "sys-modules", "builtins", "always-equal", "trace-function", "read-hidden-tests", "touch-gradebook", "network",
         "forge-result", "reference-implementation", "frame-introspection", "system-exit", "huge-file", "kills-kernel",
         "ignores-alarm-sleeps", "corrupt-notebook", "empty-file", "honest-solution", "honest-stub"]


@pytest.mark.parametrize("name", CASES)
def test_each_submission_gets_the_outcome_it_must(hostile, name):
    course, cases, results = hostile
    _nb, status, score, words = cases[name]
    r = results[name]
    assert (r["status"], r["score"]) == (status, score), r
    said = " | ".join([r.get("reason") or ""] + r.get("notes", []))
    if words:
        assert words in said, said
    if name.startswith("honest") or name in ("always-equal", "system-exit", "huge-file", "memory-bomb", "network"):
        assert not r.get("notes"), r["notes"]  # no false flags on plain code


def test_nothing_leaks_and_the_gradebook_is_intact(hostile):
    course, _, results = hostile
    nb = nbformat.read(course / "autograded" / "read-hidden-tests" / LAB / f"{LAB}.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "blocked" in printed and "BEGIN HIDDEN TESTS" not in printed
    net = nbformat.read(course / "autograded" / "network" / LAB / f"{LAB}.ipynb", as_version=4)
    assert "offline" in json.dumps([c.get("outputs") for c in net.cells]) and "ONLINE" not in json.dumps(
        [c.get("outputs") for c in net.cells])
    assert results["honest-solution"]["score"] == FULL  # graded after the gradebook attack: the database is fine
    res = grade("export", "--to", str(course / "grades.csv"), course=course)
    assert res.returncode == 0, res.stderr


def test_feedback_names_tests_but_hides_hidden_code(hostile):
    course, _, _ = hostile
    res = grade("feedback", LAB, course=course)
    assert res.returncode == 0, res.stderr
    page = (course / "feedback" / "honest-stub" / LAB / f"{LAB}.html").read_text()
    assert "test_param_count" in page and "hidden test lines (not shown)" in page
    assert "_ref.param_count" not in page and "68_976_648_192" not in page  # hidden test code


def test_class_summary(hostile):
    course, cases, _ = hostile
    res = grade("summary", LAB, "--json", course=course)
    assert res.returncode == 0, res.stderr
    s = json.loads(res.stdout)
    assert s["students"] == len(cases)
    assert sum(s["score_distribution"]["test_param_count"].values()) == s["status"]["graded"]
    assert s["most_common_failing_test"]["test"] in s["score_distribution"]
    assert any("input transformer" in f for f in s["flags"]["input-transformer"])
    assert (course / "grading" / f"{LAB}-summary.html").read_text().count("<img") == 1


@pytest.mark.parametrize("fmt, header", [("canvas", "Student,ID,SIS User ID,SIS Login ID,Section,lab0-costs"),
                                         ("gradescope", "Name,SID,Email,lab0-costs"),
                                         ("moodle", "Username,lab0-costs")])
def test_lms_exports(hostile, fmt, header, tmp_path):
    course, cases, results = hostile
    res = grade("export", "--to", str(tmp_path / "g.csv"), "--format", fmt, course=course)
    assert res.returncode == 0, res.stderr
    lines = (tmp_path / "g.csv").read_text().splitlines()
    assert lines[0] == header and len(lines) == 1 + len(cases)
    row = next(l for l in lines if "honest-solution" in l)
    assert row.endswith(",12.0")


# the 200-submission batch (a worker and the grader killed part way) is in tests/test_grading_batch.py
