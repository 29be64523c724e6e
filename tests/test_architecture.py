"""The package's shape, read from its imports (docs/architecture.md draws it).

Every ``import`` in ``mlsys_kit`` is read from the source (AST: at module level and inside
functions), and the rules of design.md's "Layout" are checked on the whole package:

* no import cycle, between modules or between topics;
* ``common``, ``checks``, ``launch`` (the real runs' processes) and the models' core
  (``models/costs``, ``gpt``, ``gpt_hf``) at the bottom, importing only each other; ``viz/`` holds the shared drawing helpers and imports only
  the bottom;
* inside a topic's room (``mlsys_kit/<topic>/``) the core never imports the room's plots or
  widgets (``viz``, ``widgets``, ``gantt_raster``) nor its entry points (``cli``, ``demo``); a
  topic may import another topic's core, never its plots, widgets or entry points;
* ``mlsys_kit/cli.py`` and ``mlsys_kit/demo.py`` on top: nothing imports them (but ``cli`` the
  report); the package never imports ``labs`` or ``autograder``;
* every package ``__init__.py`` imports nothing; no file is over 400 lines;
* an import inside a function is there for a reason: it loads a heavy optional library
  (torch, matplotlib, ipywidgets, transformers, scipy) that the importing module does not already
  load, or it is listed in ``KEPT_INSIDE`` with why;
* the ``mlsys-kit`` command starts (its parser built, ``--help``) without any of them: a
  command loads what it runs, when it runs.

And, for each lab, its grading sandbox: with the lab's reference modules (its
``# mlsys_grade: {"reference": [...]}`` line) and every module importing one of them at module
level removed from a copy of the package, the imports of its locked cells still load.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "mlsys_kit"
BOTTOM = {"mlsys_kit.common", "mlsys_kit.checks", "mlsys_kit.launch", "mlsys_kit.models.costs",
          "mlsys_kit.models.gpt", "mlsys_kit.models.gpt_hf"}
ENTRY = {"cli", "demo"}  # a room's entry points: its command and its report section
PLOTS = {"viz", "widgets", "gantt_raster"}  # a room's plots and lecture widgets
HEAVY = {"torch", "matplotlib", "ipywidgets", "transformers", "scipy"}  # optional or slow to import
MAX_LINES = 400
# Imports kept inside a function although they are light, and why.
KEPT_INSIDE = {
    ("mlsys_kit.serving.registry", "mlsys_kit.serving.scheduler"):
        "lab 3's reference: 'static' and 'continuous' resolve in its sandbox, where scheduler.py is absent",
}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(pkg: Path = PKG) -> dict[str, Path]:
    return {module_name(p, pkg.parent): p for p in sorted(pkg.rglob("*.py"))}


def _resolve(name: str, known: dict[str, Path]) -> str:
    """The module ``name`` loads (a dotted name that is not a module is an attribute of the
    longest module prefix: ``from mlsys_kit.x import f``)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name


def imports(path: Path, known: dict[str, Path]) -> list[tuple[str, bool, int]]:
    """(module imported, inside a function?, line) for every import in the file; mlsys_kit
    modules resolved to files, any other root kept as its top-level name."""
    out: list[tuple[str, bool, int]] = []

    def visit(node: ast.AST, inside: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for a in child.names:
                    root = a.name.split(".")[0]
                    out.append((_resolve(a.name, known) if root == "mlsys_kit" else root, inside, child.lineno))
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                if child.module.split(".")[0] == "mlsys_kit":
                    for a in child.names:
                        out.append((_resolve(f"{child.module}.{a.name}", known), inside, child.lineno))
                else:
                    out.append((child.module.split(".")[0], inside, child.lineno))
            visit(child, inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(path.read_text()), False)
    return out


@lru_cache(maxsize=None)
def graph() -> tuple[dict[str, Path], dict[str, list[tuple[str, bool, int]]]]:
    known = modules()
    return known, {m: imports(p, known) for m, p in known.items()}


def edges(top_level_only: bool = False) -> dict[str, set[str]]:
    known, imps = graph()
    return {m: {t for t, inside, _ in imps[m] if t in known and t != m and not (top_level_only and inside)}
            for m in known}


def topic(mod: str) -> str | None:
    """``mlsys_kit.<topic>.<name>`` -> topic (the top-level modules and ``viz`` have none)."""
    parts = mod.split(".")
    return parts[1] if len(parts) == 3 and parts[1] != "viz" else None


def role(mod: str) -> str:
    if mod in ("mlsys_kit.cli", "mlsys_kit.demo"):
        return "top"
    if mod in BOTTOM or mod == "mlsys_kit":
        return "bottom"
    if mod.startswith("mlsys_kit.viz"):
        return "shared viz"
    if mod.count(".") == 1:  # a package __init__
        return "package"
    name = mod.rsplit(".", 1)[1]
    return "entry" if name in ENTRY else "plots" if name in PLOTS else "core"


def cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph ``g``, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for t in sorted(g.get(n, ())):
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if t not in state and (found := dfs(t)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(g):
        if n not in state and (found := dfs(n)):
            return found
    return None


def test_no_import_cycle_between_modules_or_topics():
    g = edges()
    assert cycle(g) is None, " -> ".join(cycle(g))
    topics: dict[str, set[str]] = {}
    for m, targets in g.items():
        for t in targets:
            if topic(m) and topic(t) and topic(m) != topic(t):
                topics.setdefault(topic(m), set()).add(topic(t))
    assert cycle(topics) is None, "topics: " + " -> ".join(cycle(topics))


def test_every_import_points_down():
    bad = []
    for m, targets in edges().items():
        for t in targets:
            rm, rt = role(m), role(t)
            same_room = topic(m) is not None and topic(m) == topic(t)
            if rt == "top" and not (m == "mlsys_kit.cli" and t == "mlsys_kit.demo"):
                bad.append(f"{m} imports the entry point {t}")
            elif rm == "bottom" and rt != "bottom":
                bad.append(f"{m} is at the bottom but imports {t}")
            elif rm == "shared viz" and rt not in ("bottom", "shared viz"):
                bad.append(f"{m} (shared drawing helpers) imports {t}")
            elif rm == "core" and (rt in ("entry", "plots", "shared viz")):
                bad.append(f"{m} (a core module) imports {t} ({rt})")
            elif rm == "plots" and (rt == "entry" or (rt == "plots" and not same_room)):
                bad.append(f"{m} (plots) imports {t} ({rt} of {'its own' if same_room else 'another'} room)")
            elif rm == "entry" and rt in ("entry", "plots") and not same_room:
                bad.append(f"{m} imports {t}, another topic's {rt}")
            elif rm == "entry" and rt == "entry":
                bad.append(f"{m} imports {t}: a room's command and report section sit side by side")
    assert not bad, "\n".join(bad)


def test_the_package_never_imports_labs_or_the_autograder():
    _, imps = graph()
    bad = [f"{m}:{line} imports {t}" for m, lst in imps.items() for t, _, line in lst if t in ("labs", "autograder")]
    assert not bad, "\n".join(bad)


def test_package_init_files_import_nothing_and_files_stay_short():
    known, _ = graph()
    for m, path in known.items():
        if path.name == "__init__.py":
            tree = ast.parse(path.read_text())
            found = [n.lineno for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
            assert not found, f"{path.relative_to(ROOT)} imports at line(s) {found}: import from the submodules"
            assert ast.get_docstring(tree), f"{path.relative_to(ROOT)}: say the topic's reading order in a docstring"
    long = {str(p.relative_to(ROOT)): n for p in known.values() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines: {long}"


def heavy_at_import() -> dict[str, set[str]]:
    """The heavy libraries each module loads when imported (its own module-level imports and
    those of the mlsys_kit modules it imports at module level)."""
    known, imps = graph()
    own = {m: {t for t, inside, _ in imps[m] if not inside and t in HEAVY} for m in known}
    top = edges(top_level_only=True)
    out: dict[str, set[str]] = {}

    def load(m: str, seen: frozenset = frozenset()) -> set[str]:
        if m not in out:
            out[m] = set(own[m]).union(*(load(t, seen | {m}) for t in top[m] if t not in seen))
        return out[m]

    for m in known:
        load(m)
    return out


def test_imports_inside_functions_have_a_reason():
    known, imps = graph()
    heavy = heavy_at_import()
    bad = []
    for m, lst in imps.items():
        for t, inside, line in lst:
            if not inside or t not in known or t == m or (m, t) in KEPT_INSIDE:
                continue
            if not heavy[t] - heavy[m]:  # loads nothing heavy that m does not load already
                bad.append(f"{known[m].relative_to(ROOT)}:{line} imports {t} inside a function: import it at the top")
    assert not bad, "\n".join(bad)
    for (m, t), why in KEPT_INSIDE.items():
        assert any(tt == t and inside for tt, inside, _ in imps[m]), f"KEPT_INSIDE lists {m} -> {t}, gone: {why}"


def test_the_command_starts_without_a_heavy_library():
    """Building ``mlsys-kit``'s parser (every topic's ``register``: what ``--help`` and every
    command do first) loads none of HEAVY, read from the imports (AST) and checked in a fresh
    interpreter; torch alone took 1 s of each command's 2.7 s start."""
    heavy = heavy_at_import()
    assert not heavy["mlsys_kit.cli"], f"mlsys_kit.cli loads {sorted(heavy['mlsys_kit.cli'])} at import"
    prog = ("import sys; from mlsys_kit.cli import build_parser; build_parser(); "
            f"print(sorted(m for m in {sorted(HEAVY)!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", prog], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"building the parser loaded {out.stdout.strip()}"


# ---------------------------------------------------------------- each lab's grading sandbox

LABS = sorted(p.stem for p in (ROOT / "labs" / "authoring").glob("*.py"))
# What else a lab's sandbox must still load besides its locked cells' imports.
ALSO_LOADS = {"lab0-costs": ["mlsys_kit.serving.engine", "mlsys_kit.serving.simulator", "mlsys_kit.serving.real"]}


# mlsys_kit is installed in editable mode: setuptools' finder would load a subpackage or a
# top-level module missing from the copy (mlsys_kit.zero, mlsys_kit.common) from the checkout.
# In the sandbox every mlsys_kit module comes from the copy or not at all.
SANDBOX_IMPORTS = """
import sys
from importlib.machinery import PathFinder


class OnlyTheCopy:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name != "mlsys_kit" and not name.startswith("mlsys_kit."):
            return None
        spec = PathFinder.find_spec(name, [%r] if path is None else path)
        if spec is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return spec


sys.meta_path.insert(0, OnlyTheCopy)
"""


def lab_cells(lab: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(reference modules, [(kind, source)] of the code cells) of labs/authoring/<lab>.py."""
    text = (ROOT / "labs" / "authoring" / f"{lab}.py").read_text()
    ref = json.loads(re.search(r"^# mlsys_grade: (\{.*\})$", text, re.M).group(1))["reference"]
    cells = []
    for chunk in re.split(r"^# %%", text, flags=re.M)[1:]:
        head, _, body = chunk.partition("\n")
        if "[markdown]" not in head:
            kind = re.search(r'kind="(\w+)"', head)
            cells.append((kind.group(1) if kind else "code", body))
    return ref, cells


def sandbox_removes(reference: list[str]) -> set[str]:
    """The reference modules (a package: all of it) and, transitively, every module that imports
    one of them at module level."""
    known, _ = graph()
    gone = {m for m in known for r in reference if m == r or m.startswith(r + ".")}
    top = edges(top_level_only=True)
    while True:
        more = {m for m in known if m not in gone and top[m] & gone}
        if not more:
            return gone
        gone |= more


@pytest.mark.parametrize("lab", LABS)
def test_locked_cells_load_in_the_grading_sandbox(lab, tmp_path):
    reference, cells = lab_cells(lab)
    known, _ = graph()
    assert reference and all(r in known for r in reference), f"{lab}: unknown reference module(s) {reference}"
    wanted = []
    for kind, src in cells:
        if kind == "locked":
            wanted += [ast.unparse(n) for n in ast.walk(ast.parse(src))
                       if isinstance(n, (ast.Import, ast.ImportFrom))
                       and ((n.module or "") if isinstance(n, ast.ImportFrom) else n.names[0].name).startswith("mlsys_kit")]
    wanted += [f"import {m}" for m in ALSO_LOADS.get(lab, [])]
    gone = sandbox_removes(reference)
    shutil.copytree(PKG, tmp_path / "mlsys_kit", ignore=shutil.ignore_patterns("__pycache__"))
    for m in gone:
        path = tmp_path / known[m].relative_to(ROOT)
        shutil.rmtree(path.parent) if path.name == "__init__.py" else path.unlink(missing_ok=True)
    prog = "\n".join([SANDBOX_IMPORTS % str(tmp_path), "import mlsys_kit",
                      f"assert mlsys_kit.__file__.startswith({str(tmp_path)!r}), mlsys_kit.__file__",
                      *wanted, "print('sandbox ok')"])
    out = subprocess.run([sys.executable, "-c", prog], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(tmp_path), "MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and "sandbox ok" in out.stdout, (
        f"{lab}: without {sorted(gone)} the locked cells' imports fail:\n{out.stderr[-2000:]}")
