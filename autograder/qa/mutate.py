"""Automatic mutants of a lab's solution cells (issue #13): small, mechanical bugs that a lab's
tests must catch, beside the hand-written realistic ones in ``autograder/mutants/<lab>/``.

Mutation testing (DeMillo, Lipton and Sayward, "Hints on test data selection", IEEE Computer 1978;
the operator set follows Offutt et al., "An experimental determination of sufficient mutant
operators", TOSEM 1996, section 3): each mutant changes ONE place of ONE solution region, and a
test suite is as good as the share of mutants it kills. Operators:

=================  ========================================================================
operator           change
=================  ========================================================================
compare-boundary   ``<`` <-> ``<=``, ``>`` <-> ``>=``
compare-flip       a comparison negated (``==`` <-> ``!=``, ``<`` -> ``>=``, ``in`` -> ``not in``,
                   ``is`` -> ``is not`` ...)
constant           an int constant +1 and -1 (bools and the ints of a slice bound excluded);
                   a float constant +1
arithmetic         ``+`` <-> ``-``, ``*`` -> ``+``, ``/`` <-> ``//``, ``%`` -> ``//``, ``**`` -> ``*``,
                   unary minus dropped (also in ``x += ...``)
boolean            ``and`` <-> ``or``, ``not x`` -> ``x``, ``if c`` -> ``if not c`` (also ``while``)
loop-control       ``break`` <-> ``continue``
slice              a slice bound +1 or -1
delete             a statement replaced by ``pass`` (assignments, calls, raise, del, augmented
                   assignments; returns become ``return None``)
return-input       ``return x`` -> ``return <the function's first parameter>``
return-type        ``return x`` -> the same value with a wrong type, from the return annotation
                   (int -> float, float -> int, list <-> tuple, bool -> int, dict -> list of items)
skip-copy          ``list(x)``, ``dict(x)``, ``set(x)``, ``x.copy()``, ``x.clone()``, ``copy.copy(x)``,
                   ``copy.deepcopy(x)``, ``x[:]`` -> ``x`` (the caller's object, not a copy)
=================  ========================================================================

And the bugs students make (issue #25), which the operators above do not express:

=================  ========================================================================
operator           change
=================  ========================================================================
param-fixed        a parameter replaced by the value the lab's tests pass most often (the
                   function ignores it: every test that keeps that value cannot tell)
drop-sort          ``sorted(x, ...)`` -> ``x``, ``reversed(x)`` -> ``x``
swap-loops         two directly nested ``for`` loops exchanged
in-place-arg       ``y = p <op> e`` -> ``p <op>= e; y = p`` and ``p.add(e)`` -> ``p.add_(e)`` (torch),
                   for a parameter ``p``: the caller's argument changed instead of a new value
memo-first-arg     a function's results cached on the function, keyed on its first argument
                   only (module-level state that outlives a call, keyed on too little)
drop-rounding      ``round(x[, n])`` -> ``x``, ``math.isclose(a, b, ...)`` -> ``a == b``,
                   ``torch.allclose(a, b, ...)`` -> ``torch.equal(a, b)``, a tiny float
                   tolerance added to one side of a comparison dropped
=================  ========================================================================

A counter update removed (``n += 1``) is the ``delete`` operator above.

Only code inside ``### BEGIN SOLUTION`` / ``### END SOLUTION`` regions is mutated (what students
write). A mutant is a text edit of the cell (the node's exact source span replaced), so comments
and layout elsewhere stay; every mutant compiles. Each has a stable ``key`` (cell, the line's text,
the edit) that ``autograder/mutants/<lab>/equivalent.toml`` uses to record an equivalent mutant.
"""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass

from autograder.qa.operators import MARKER, _offsets, _Sites, solution_lines

@dataclass(frozen=True)
class Mutant:
    """One automatic mutant of one solution cell."""
    cell: str          # the solution cell's id (nbgrader grade_id)
    line: int          # 1-based line in the cell's source (with its markers)
    operator: str      # one of the operators in the module docstring
    old: str           # the source text replaced
    new: str           # its replacement
    source: str        # the whole mutated cell, solution markers removed (what a student would submit)
    key: str           # stable name: "<cell> | <the line's text> | <operator>: <old> -> <new>" (+ " #n")

    def describe(self) -> str:
        return f"{self.cell}:{self.line} {self.operator}: {self.old} -> {self.new}"


def strip_markers(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not MARKER.match(line))


def mutants(cell_id: str, source: str, tests: list[str] | tuple = ()) -> list[Mutant]:
    """Every automatic mutant of one solution cell (its source with the solution markers);
    ``tests``: the lab's test cells (visible and hidden), whose calls give ``param-fixed`` the
    values they pass most."""
    tree = ast.parse(source)
    inside = solution_lines(source)
    finder = _Sites(source, test_values(tests))
    finder.visit(tree)
    starts = _offsets(source)
    lines = source.splitlines()
    out: list[Mutant] = []
    seen: dict[str, int] = {}
    edits = []
    for node, operator, new in finder.sites:
        first, last = node.lineno, node.end_lineno or node.lineno
        if not all(n in inside for n in range(first, last + 1)):
            continue
        a = starts[first - 1] + node.col_offset
        b = starts[last - 1] + node.end_col_offset
        edits.append((first, operator, source[a:b], new, source[:a] + new + source[b:]))
    edits += [(first, operator, old, new, text) for first, _last, operator, old, new, text in finder.texts]
    for first, operator, old, new, text in edits:
        if old == new:
            continue
        try:
            compile(text, f"<mutant of {cell_id}>", "exec")
        except SyntaxError:
            continue
        key = f"{cell_id} | {lines[first - 1].strip()} | {operator}: {_short(old)} -> {_short(new)}"
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            key += f" #{seen[key]}"
        out.append(Mutant(cell_id, first, operator, old, new, strip_markers(text), key))
    return out


def _short(text: str, width: int = 60) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[:width - 3] + "..."


def lab_mutants(cells: dict[str, str], tests: list[str] | tuple = ()) -> list[Mutant]:
    """Automatic mutants of every solution cell: ``cells`` maps cell id -> source with markers;
    ``tests`` are the lab's test cells."""
    return [m for cid, src in cells.items() for m in mutants(cid, src, tests)]


def test_values(tests: list[str] | tuple) -> dict[str, dict[str, Counter]]:
    """{function or method name: {"#<position>" or keyword: how often the tests pass each literal
    value there}}: the positions are matched to the function's parameters where it is defined."""
    counts: dict[str, dict[str, Counter]] = {}
    for text in tests:
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else \
                node.func.attr if isinstance(node.func, ast.Attribute) else None
            if name is None:
                continue
            per = counts.setdefault(name, {})
            for i, arg in enumerate(node.args):
                _count(per, f"#{i}", arg)
            for kw in node.keywords:
                if kw.arg is not None:
                    _count(per, kw.arg, kw.value)
    return counts


def _count(per: dict, key: str, node: ast.AST) -> None:
    try:
        value = ast.literal_eval(node)
        hash(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return
    if isinstance(value, (int, float, str, bool, type(None), tuple)) and len(repr(value)) <= 60:
        per.setdefault(key, Counter())[value] += 1


