"""The autograder's three rooms (issue #24; docs/architecture.md): `submission` at the bottom,
`course` above it, `qa` above both, `cli.py` on top; the files the sandbox holds (the runner and
the channel's codec) import nothing else of the autograder; no file over 400 lines; every package
__init__ is a docstring."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "autograder"
ORDER = {"submission": 0, "course": 1, "qa": 2, "cli": 3}
IN_SANDBOX = {"autograder.submission.runner", "autograder.submission.channel", "autograder.submission.nodes",
              "autograder.submission.encoder", "autograder.submission.decoder"}


def modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def autograder_imports(path: Path) -> list[str]:
    """Every autograder module ``path`` imports, at module level and inside functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("autograder"):
            found.append(node.module)
            found += [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("autograder")]
    return found


def room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ORDER else None


@pytest.mark.parametrize("module", sorted(modules()))
def test_imports_point_down(module):
    mods = modules()
    mine = room(module)
    for target in autograder_imports(mods[module]):
        if target not in mods:
            continue  # a name imported from a module, e.g. autograder.submission.judge.Judge
        theirs = room(target)
        if mine and theirs:
            assert ORDER[theirs] <= ORDER[mine], f"{module} imports {target}: {mine} may not import {theirs}"
        if module in IN_SANDBOX:
            assert target in IN_SANDBOX | {"autograder.submission", "autograder"}, \
                f"{module} runs in the sandbox and imports {target}, which the sandbox does not hold"


def test_the_sandbox_holds_the_runners_files():
    from autograder.submission.sandbox_root import RUNNER_FILES

    held = {"autograder." + f.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
            for f in RUNNER_FILES} - {"autograder.__init__"}
    assert held == IN_SANDBOX | {"autograder.submission"}, held


@pytest.mark.parametrize("path", sorted(PKG.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_files_stay_short_and_inits_hold_a_docstring(path):
    lines = path.read_text().splitlines()
    assert len(lines) <= 400, f"{path.relative_to(ROOT)} has {len(lines)} lines"
    if path.name == "__init__.py":
        tree = ast.parse(path.read_text())
        assert ast.get_docstring(tree) and all(isinstance(n, ast.Expr) for n in tree.body), path
