"""Automatic mutants (autograder/qa/mutate.py) and the fast trusted QA runs (autograder/qa/run.py):
branch coverage of the solution regions and the kill rate, on a small lab built for the test."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.course.build import parse, to_notebook
from autograder.qa.mutate import mutants, solution_lines, strip_markers
from autograder.qa.mutant_runs import load_equivalents

ROOT = Path(__file__).resolve().parents[1]

CELL = '''def f(xs: list, k: int) -> int:
    given = 1  # outside the region: students do not write it
    ### BEGIN SOLUTION
    out = 0
    for x in xs[1:]:
        if x < k and not x == 3:
            out += x * 2
        else:
            break
    return list(xs) if k == 99 else out
    ### END SOLUTION
'''

LAB = '''# mlsys_grade: {"reference": []}

# %% [markdown] id="intro"
# # A small lab

# %% kind="solution" id="clip"
def clip(x: int, lo: int, hi: int) -> int:
    ### BEGIN SOLUTION
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x
    ### END SOLUTION

# %% kind="test" id="test_clip" points=2
assert type(clip(5, 0, 9)) is int
assert clip(5, 0, 9) == 5 and clip(-1, 0, 9) == 0
### BEGIN HIDDEN TESTS
assert clip(-7, -3, 9) == -3
### END HIDDEN TESTS
'''


def test_mutants_of_one_cell_cover_the_operators_and_only_the_region():
    ms = mutants("f", CELL)
    ops = {m.operator for m in ms}
    assert {"compare-boundary", "compare-flip", "constant", "arithmetic", "boolean", "loop-control", "slice",
            "delete", "return-input", "return-type", "skip-copy"} <= ops
    region = solution_lines(CELL)
    assert all(m.line in region for m in ms)
    assert not any("given" in m.old for m in ms)  # the given line is never mutated
    assert len({m.key for m in ms}) == len(ms)
    for m in ms:
        ast.parse(m.source)
        assert "### BEGIN SOLUTION" not in m.source
        assert m.source != strip_markers(CELL)
    edits = {(m.operator, m.old, m.new) for m in ms}
    assert ("compare-boundary", "x < k", "x <= k") in edits
    assert ("loop-control", "break", "continue") in edits
    assert ("skip-copy", "list(xs)", "xs") in edits
    assert ("return-input", "list(xs) if k == 99 else out", "xs") in edits
    assert ("return-type", "list(xs) if k == 99 else out", "float(list(xs) if k == 99 else out)") in edits
    assert ("arithmetic", "x * 2", "x + 2") in edits and ("arithmetic", "out += x * 2", "out -= x * 2") in edits
    assert ("boolean", "not x == 3", "(x == 3)") in edits
    # keys are stable: the same cell gives the same keys, and an edit elsewhere keeps this line's keys
    assert [m.key for m in mutants("f", CELL)] == [m.key for m in ms]


STUDENT_BUGS = '''def g(xs: list, k: int, tol: float = 1e-9) -> float:
    ### BEGIN SOLUTION
    ys = xs + [k]
    out = 0.0
    for a in sorted(xs):
        for b in reversed(ys):
            if abs(a - b) <= 1e-9 or a <= b + 1e-12:
                out += round(a * b, 2)
    return out if math.isclose(out, 3.0, rel_tol=tol) else out + 1
    ### END SOLUTION
'''


def test_operators_for_the_bugs_students_make():
    """Issue #25's operators: each makes the bug it names, and the mutated cell still runs."""
    tests = ["assert g([1, 2], 3) == 1.0\nassert g([3], 3, tol=0.1) > 0\ng(xs=[1], k=3)\n"]
    ms = mutants("g", STUDENT_BUGS, tests)
    edits = {(m.operator, m.old, m.new) for m in ms}
    assert ("drop-sort", "sorted(xs)", "xs") in edits and ("drop-sort", "reversed(ys)", "ys") in edits
    assert ("in-place-arg", "ys = xs + [k]", "xs += [k]; ys = xs") in edits
    assert ("drop-rounding", "round(a * b, 2)", "a * b") in edits
    assert ("drop-rounding", "a <= b + 1e-12", "a <= b") in edits
    assert ("drop-rounding", "abs(a - b) <= 1e-9", "(a) == (b)") in edits
    assert ("drop-rounding", "math.isclose(out, 3.0, rel_tol=tol)", "(out) == (3.0)") in edits
    fixed = [m for m in ms if m.operator == "param-fixed"]
    assert [m.new.split("  #")[0] for m in fixed] == ["k = 3"]  # 3 calls pass k=3; xs is a list, tol once
    swap = next(m for m in ms if m.operator == "swap-loops")
    assert swap.source.index("for b in reversed(ys)") < swap.source.index("for a in sorted(xs)")
    memo = next(m for m in ms if m.operator == "memo-first-arg")
    ns: dict = {"math": __import__("math")}
    exec(memo.source, ns)
    assert ns["g"]([1, 2], 3) == ns["g"]([1, 2], 99)  # keyed on xs only: the second call is the first's answer
    ns2: dict = {"math": __import__("math")}
    exec(strip_markers(STUDENT_BUGS), ns2)
    assert ns2["g"]([1, 2], 3) != ns2["g"]([1, 2], 99)
    for m in ms:
        compile(m.source, "<m>", "exec")
    moved = CELL.replace("    out = 0\n", "    out = 0\n    pass\n")
    assert {m.key for m in ms if "x < k" in m.key} <= {m.key for m in mutants("f", moved)}


def test_a_mutant_is_the_cell_with_one_edit():
    m = next(m for m in mutants("f", CELL) if m.operator == "slice" and m.new == "(1) + 1")
    assert "for x in xs[(1) + 1:]:" in m.source
    assert m.source.replace("xs[(1) + 1:]", "xs[1:]") == strip_markers(CELL)


def test_equivalents_need_a_reason(tmp_path):
    qa = tmp_path / "qa.toml"
    qa.write_text('enforce = true\n[[equivalent]]\nmutant = "a | b | c"\nreason = "the value is never read"\n')
    assert load_equivalents(qa) == {"a | b | c": "the value is never read"}
    qa.write_text('[[equivalent]]\nmutant = "a | b | c"\nreason = "same"\n')
    with pytest.raises(ValueError, match="needs mutant"):
        load_equivalents(qa)
    assert load_equivalents(tmp_path / "none.toml") == {}


def run_qarun(tmp_path, text: str, qa_toml: str = "", sample: int | None = None,
              hand_written: dict[str, str] | None = None) -> dict:
    nb = to_notebook(parse(text, "lab.py"))
    path = tmp_path / "lab.ipynb"
    nbformat.write(nb, path)
    (tmp_path / "qa.toml").write_text(qa_toml)
    cmd = [sys.executable, "-m", "autograder.qa.run", str(path), "--qa-file", str(tmp_path / "qa.toml")]
    if sample:
        cmd += ["--sample", str(sample)]
    if hand_written:
        (tmp_path / "hand").mkdir(exist_ok=True)
        for name, text in hand_written.items():
            (tmp_path / "hand" / name).write_text(text)
        cmd += ["--hand-written", str(tmp_path / "hand")]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout)


def test_coverage_and_kill_rate_of_a_small_lab(tmp_path):
    out = run_qarun(tmp_path, LAB)
    cov, auto = out["coverage"], out["automatic_mutants"]
    assert cov["solution_failed_tests"] == [] and cov["fatal"] is None
    # the `x > hi` branch is never taken: its return never runs
    assert cov["percent"] < 100
    assert any("clip:" in m and "return hi" in m for m in cov["missing"]), cov["missing"]
    assert auto["run"] == auto["total"] > 5
    survivors = auto["survivors"]
    assert any("x > hi" in s for s in survivors)  # nothing tests the upper bound
    assert not any("x < lo | compare-flip" in s for s in survivors)  # the lower bound is tested
    assert auto["killed"] == auto["run"] - len(survivors)

    # tests for the upper bound and for the type on every path kill every mutant but two, which are
    # equivalent (at x == lo, returning lo IS returning x) and recorded so
    better = LAB.replace("assert clip(-7, -3, 9) == -3", "assert clip(-7, -3, 9) == -3 and clip(12, 0, 9) == 9\n"
                         "assert type(clip(-1, 0, 9)) is int and type(clip(12, 0, 9)) is int\n"
                         "assert clip(12, 0, 20) == 12  # another hi, and the same x with other bounds")
    equivalent = "".join(f'[[equivalent]]\nmutant = "clip | if x {op}: | compare-boundary: x {op} -> x {op}="\n'
                         f'reason = "at the boundary both branches return the same value"\n'
                         for op in ("< lo", "> hi"))
    equivalent = equivalent.replace("x < lo=", "x <= lo").replace("x > hi=", "x >= hi")
    out = run_qarun(tmp_path, better, equivalent)
    assert out["coverage"]["percent"] == 100.0 and out["coverage"]["missing"] == []
    auto = out["automatic_mutants"]
    assert auto["equivalent"] == 2 and auto["run"] == auto["total"] - 2
    assert auto["kill_rate"] == 100.0 and auto["survivors"] == [], auto["survivors"]

    # an untested line must say why (the excluded lines leave coverage at 100 %); a stale equivalent
    # is reported; a sample runs that many
    marked = LAB.replace("        return hi", "        return hi  # qa: untested -- the upper bound is lab 9's") \
        .replace("        return lo", "        return lo  # qa: untested")
    out = run_qarun(tmp_path, marked, '[[equivalent]]\nmutant = "no such mutant"\nreason = "it was removed later"\n',
                    sample=3)
    assert out["coverage"]["percent"] == 100.0
    assert len(out["coverage"]["unexplained"]) == 1 and "clip:" in out["coverage"]["unexplained"][0]
    assert out["automatic_mutants"]["stale_equivalents"] == ["no such mutant"]
    assert out["automatic_mutants"]["run"] == 3 and out["automatic_mutants"]["sampled"]


def test_qa_gates_only_where_the_lab_enforces_them():
    from autograder.qa.check import _fast_failures

    extra = {"coverage": {"percent": 90.0, "statements": 9, "branches": 1, "missing": ["f:3 never runs: x = 1"],
                          "unexplained": []},
             "automatic_mutants": {"killed": 9, "run": 10, "kill_rate": 90.0, "sampled": False, "total": 10,
                                   "equivalent": 0, "survivors": ["f | x = 1 | constant: 1 -> 2"],
                                   "stale_equivalents": []}}
    said = []
    assert _fast_failures(extra, enforced=False, progress=said.append) == []
    assert any("not enforced" in s for s in said) and any("survivor: f | x = 1" in s for s in said)
    failures = _fast_failures(extra, enforced=True, progress=said.append)
    assert len(failures) == 2 and "coverage 90 %" in failures[0] and "1 automatic mutants survive" in failures[1]
    extra["coverage"]["unexplained"] = ["f:3: '# qa: untested' needs a reason"]
    extra["automatic_mutants"]["stale_equivalents"] = ["gone"]
    assert len(_fast_failures(extra, enforced=False, progress=said.append)) == 2  # always failures


DRAWN = LAB.replace("assert clip(-7, -3, 9) == -3", "r = student_rng()\nfor _ in range(20):\n"
                    "    x = r.randint(-20, 20)\n    assert clip(x, -3, 9) == min(max(x, -3), 9)")


def test_a_mutant_killed_before_any_draw_runs_once_and_one_killed_after_runs_on_every_variant(tmp_path):
    """A mutant's runs stop at its first failing test. Killed by a visible check, before any cell
    drew the variant's hidden inputs, it ran exactly what every variant would run: it is killed for
    every student after one run. Killed by a hidden check on drawn inputs, it must be killed on every
    variant, so it runs on all three; a mutant that survives for some students says for whom."""
    out = run_qarun(tmp_path, DRAWN, hand_written={
        "visible.py": '"""Returns x one too high."""\nEDITS = [("clip", "return x", "return x + 1")]\n',
        "hidden.py": '"""Clips to one below the upper bound."""\nEDITS = [("clip", "return hi", "return hi - 1")]\n',
        "one_value.py": '"""Wrong at exactly x = 20 only."""\n'
                        'EDITS = [("clip", "if x > hi:", "if x > hi and x != 20:")]\n'})
    hand = out["hand_written"]
    assert hand["visible.py"]["survives_on"] == [] and hand["visible.py"]["variants_run"] == 1
    assert hand["hidden.py"]["survives_on"] == [] and hand["hidden.py"]["variants_run"] == 3
    # 20 draws from 41 values: x = 20 comes up for some students and not for others (at QA's secret)
    assert hand["one_value.py"]["variants_run"] == 3
    assert 0 < len(hand["one_value.py"]["survives_on"]) < 3, hand["one_value.py"]
    assert out["automatic_mutants"]["runs"] < 3 * out["automatic_mutants"]["run"]  # some killed by the visible test
