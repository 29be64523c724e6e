"""Did a solution take the lab's reference implementation? Static analysis on the trusted side.

Issue #12: a flag raised inside the student's process can be erased by the student's process, so
the reference check reads the submission's solution cells HERE, in the grader, and never runs
them. A lab declares its reference modules (the notebook metadata ``mlsys_grade.reference``, e.g.
``mlsys_kit.models.costs``); a solution cell is flagged when it

* imports one of them or anything inside (``import``/``from``, at top level or inside a function);
* names one in a string (``importlib.import_module("mlsys_kit....")``, ``__import__``) or spells
  it as an attribute chain (``mlsys_kit.models.costs.param_count``);
* uses the machinery that loads code by name or from a file: ``importlib``, ``__import__``,
  ``exec``/``eval``/``compile``, ``runpy``, ``sys.modules``, ``open``/``read`` of a ``.py`` file
  or of a path inside ``mlsys_kit``, ``inspect.getsource``;
* imports ``mlsys_kit`` at all inside a function (importing only in functions the tests call
  hides an import from a top-level scan);
* uses a name that only the reference module defines (a public function of it that the lab's
  own cells do not define);
* is textually close to the reference's source: the longest run of identical normalised lines
  shared with the reference module (``difflib``), or the share of the cell's distinct token
  3-grams found in the reference.

Flags are words for the instructor (they go into the grading record); they do not change a score.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import io
import re
import tokenize
from functools import lru_cache
from pathlib import Path

LOADERS = {"importlib": "importlib", "__import__": "__import__", "exec": "exec()", "eval": "eval()",
           "compile": "compile()", "runpy": "runpy", "getsource": "inspect.getsource", "modules": "sys.modules",
           "import_module": "importlib.import_module", "spec_from_file_location": "importlib (load a file)",
           "SourceFileLoader": "importlib (load a file)", "exec_module": "importlib (load a file)"}
SHARED_RUN = 6          # identical (normalised, non-trivial) lines in a row shared with the reference
SHARED_TRIGRAMS = 0.9   # share of the cell's distinct token 3-grams that occur in the reference
MIN_TRIGRAMS = 60


def check_submission(cells: list[tuple[str, str]], reference: list[str], lab_code: list[str] = ()) -> list[str]:
    """Flags (in words) for the solution cells ``[(grade_id, source)]`` against the ``reference``
    modules (dotted names); ``lab_code`` is the source notebook's code (names it defines are the
    lab's, not only the reference's). No reference modules: only the code-loading machinery."""
    if not isinstance(cells, list) or not all(isinstance(c, tuple) and len(c) == 2 for c in cells):
        raise TypeError("cells must be a list of (grade_id, source) pairs")
    flags: list[str] = []
    defined = set()
    for src in [s for _gid, s in cells] + list(lab_code):
        defined |= _defined_names(src)
    for gid, src in cells:
        found = check_cell(src, reference, defined)
        flags += [f"solution cell {gid!r} {what}" for what in found]
    return flags


def check_cell(source: str, reference: list[str], defined: set[str] = frozenset()) -> list[str]:
    """What one solution cell does that the module docstring lists, in words."""
    out: list[str] = []
    try:
        tree = ast.parse(_strip_magics(source))
    except SyntaxError:
        tree = None
    inside = lambda name: any(name == m or name.startswith(m + ".") for m in reference)  # noqa: E731
    if tree is None:
        used = [m for m in reference if m in source]
        if used:
            out.append(f"uses the reference implementation {', '.join(used)}")
        return out
    ref_uses, loaders, nested_imports, file_reads = set(), set(), set(), False
    parents = _parents(tree)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = _imported(node)
            ref_uses |= {n for n in names if inside(n)}
            if any(n == "mlsys_kit" or n.startswith("mlsys_kit.") for n in names) and _in_function(node, parents):
                nested_imports.add(min(names))
            loaders |= {LOADERS[n.split(".")[0]] for n in names if n.split(".")[0] in ("importlib", "runpy")}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            ref_uses |= {m for m in reference if m in node.value or m.replace(".", "/") in node.value}
            if re.search(r"\.py\b|mlsys_kit[/\\]", node.value):
                file_reads = True
        elif isinstance(node, ast.Attribute):
            chain = ast.unparse(node)
            if inside(chain):
                ref_uses.add(chain)
            if node.attr == "modules" and chain.endswith("sys.modules"):
                loaders.add("sys.modules")
            elif node.attr in LOADERS and node.attr not in ("exec", "eval", "compile", "modules"):
                loaders.add(LOADERS[node.attr])
        elif isinstance(node, ast.Name) and node.id in LOADERS and node.id != "modules":
            loaders.add(LOADERS[node.id])
    if ref_uses:
        out.append(f"uses the reference implementation {', '.join(sorted(ref_uses)[:3])}")
    if nested_imports:
        out.append(f"imports {', '.join(sorted(nested_imports))} inside a function")
    if loaders:
        out.append(f"loads code by name ({', '.join(sorted(loaders))})")
    if file_reads and _opens_files(tree):
        out.append("reads a Python source file")
    if reference:
        own = _reference_only_names(reference) - defined - _defined_names(source)
        used_names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        hit = sorted(own & used_names)
        if hit:
            out.append(f"uses {', '.join(hit[:3])}, which only the reference implementation defines")
        sim = similarity(source, reference)
        if sim:
            out.append(sim)
    return out


def similarity(source: str, reference: list[str]) -> str | None:
    """Words when ``source`` is close to a reference module's source, else None."""
    mine = _norm_lines(source)
    grams = _trigrams(source)
    for mod in reference:
        ref = _reference_source(mod)
        if not ref:
            continue
        theirs = _norm_lines(ref)
        m = difflib.SequenceMatcher(None, mine, theirs, autojunk=False)
        run = max((b.size for b in m.get_matching_blocks()), default=0)
        if run >= SHARED_RUN:
            return f"shares {run} consecutive lines with the reference implementation {mod}"
        if len(grams) >= MIN_TRIGRAMS:
            share = len(grams & _trigrams(ref)) / len(grams)
            if share >= SHARED_TRIGRAMS:
                return f"is {share:.0%} the same code as the reference implementation {mod} (token 3-grams)"
    return None


# ---- helpers ----------------------------------------------------------------------------------
def _strip_magics(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _parents(tree: ast.AST) -> dict:
    return {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}


def _in_function(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return True
    return False


def _imported(node) -> set[str]:
    names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
        [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        if node.module and not node.level else [])
    out: set[str] = set()
    for name in names:
        parts = name.split(".")
        out.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return out


def _opens_files(tree: ast.AST) -> bool:
    for n in ast.walk(tree):
        if isinstance(n, ast.Call):
            f = n.func
            name = f.id if isinstance(f, ast.Name) else (f.attr if isinstance(f, ast.Attribute) else "")
            if name in ("open", "read_text", "read_bytes", "loadtxt", "fromfile", "FileIO"):
                return True
    return False


def _defined_names(source: str) -> set[str]:
    try:
        tree = ast.parse(_strip_magics(source))
    except SyntaxError:
        return set()
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            out.add(n.id)
    return out


@lru_cache(maxsize=32)
def _reference_source(module: str) -> str:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return ""
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return ""
    return Path(spec.origin).read_text()


@lru_cache(maxsize=32)
def _reference_only_names_one(module: str) -> frozenset:
    """Public top-level functions and classes of a reference module with distinctive names
    (``_``-free short names like ``run`` are too common to mean anything)."""
    src = _reference_source(module)
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return frozenset()
    return frozenset(n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
                     and not n.name.startswith("_") and ("_" in n.name or any(c.isupper() for c in n.name[1:]))
                     and len(n.name) >= 8)


def _reference_only_names(reference: list[str]) -> set[str]:
    out: set[str] = set()
    for m in reference:
        out |= _reference_only_names_one(m)
    return out


def _norm_lines(source: str) -> list[str]:
    lines = []
    for line in source.splitlines():
        s = re.sub(r"#.*$", "", line).strip()
        s = re.sub(r"\s+", " ", s)
        if len(s) >= 12 and not s.startswith(('"""', "'''", "return", "def ", "@")):
            lines.append(s)
    return lines


def _trigrams(source: str) -> set[tuple]:
    toks = []
    try:
        for t in tokenize.generate_tokens(io.StringIO(source).readline):
            if t.type in (tokenize.NAME, tokenize.OP, tokenize.NUMBER, tokenize.STRING):
                toks.append(t.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        toks = source.split()
    return {tuple(toks[i:i + 3]) for i in range(len(toks) - 2)}
