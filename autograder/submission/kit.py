"""What of ``mlsys_kit`` a lab's student side may hold: the kit without the lab's reference.

A lab declares its reference modules (``nb.metadata["mlsys_grade"]["reference"]``, dotted
names; a package name stands for everything under it). The reference must be ABSENT from the
sandbox, not detected there: ``kit_files(reference)`` lists the kit's files that the sandbox (and
QA's student-side process) may hold. It is every file under the kit except

a. the reference modules' files (a package: every file under its folder);
b. every module that imports an excluded module when it is imported, transitively. An import
   counts when it runs at import time: a module-level ``import``/``from ... import``, also
   inside module-level ``if``/``try``/``with``/``for``/``while`` blocks and class bodies, but not
   inside a function (or lambda) body. Relative imports are resolved; ``from pkg import name``
   imports ``pkg.name`` when that is a module of the kit; importing ``a.b.c`` imports ``a`` and
   ``a.b`` too, and every module imports its parent packages (so a package whose ``__init__``
   is excluded takes every file under its folder with it);
c. every ``__pycache__`` folder and compiled file (``.pyc``, ``.pyo``), and every symbolic link
   (a link could name the reference).

Not covered (documented in docs/grading.md): an import inside a function of a kept module
stays; it fails at run time in the sandbox (the file is not there). ``importlib.import_module``
or ``__import__`` with a computed name at module level is not seen (the kit does not do that);
``from pkg import *`` is taken to import ``pkg`` only.

The kit is found where the grader imports ``mlsys_kit`` from (``kit_dir()``): the checkout with
an editable install, site-packages with a plain one. Results are cached per reference list, and
each file's import-time imports on disk by content (a folder of the grader's own in the temp
folder, mode 0700, used only if it is ours and closed to others): a grading worker then pays
milliseconds, not the 0.1 s that parsing the whole kit takes.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import json
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

KIT = "mlsys_kit"
COMPILED = (".pyc", ".pyo")
CACHE_FILE = "imports-v1.json"  # bump when import_time_imports changes
CACHE_ENTRIES = 4000


def kit_dir() -> Path:
    """The folder the grader imports ``mlsys_kit`` from (not resolved: the sandbox puts the
    filtered copy at this very path)."""
    spec = importlib.util.find_spec(KIT)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{KIT} is not importable here")
    return Path(list(spec.submodule_search_locations)[0]).absolute()


@dataclass(frozen=True)
class KitPlan:
    """What the filter decided for one reference list."""

    root: Path                      # the kit's folder (kit_dir())
    reference: tuple[str, ...]      # the reference modules (sorted, without repeats)
    keep: tuple[str, ...]           # kept files, relative posix paths, sorted
    dropped: dict[str, str] = field(default_factory=dict)  # dropped module -> why (in words)

    @property
    def dropped_files(self) -> list[str]:
        return sorted(set(_all_files(self.root)) - set(self.keep))


def kit_files(reference) -> list[str]:
    """The files (paths relative to ``kit_dir()``, posix) of the kit that a student-side process
    may hold for a lab whose reference modules are ``reference`` (see the module docstring)."""
    return list(kit_plan(reference).keep)


def kit_plan(reference) -> KitPlan:
    """``kit_files`` with the reasons: which modules were dropped and why."""
    if isinstance(reference, str):
        raise TypeError("reference must be a list of dotted module names, not a string")
    return _plan(tuple(sorted(set(reference))), str(kit_dir()))


def copy_kit(reference, dest: Path) -> Path:
    """Copy the kit, filtered for ``reference``, to ``dest/mlsys_kit`` (made fresh); returns
    ``dest``, the folder to put first on ``sys.path``."""
    plan = kit_plan(reference)
    out = Path(dest) / KIT
    if out.exists():
        shutil.rmtree(out)
    for rel in plan.keep:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(plan.root / rel, out / rel)
    return Path(dest)


# ---- the filter --------------------------------------------------------------------------------
def _all_files(root: Path) -> list[str]:
    out = []
    for base, dirs, files in os.walk(root):
        dirs.sort()
        out += [Path(base, f).relative_to(root).as_posix() for f in sorted(files)]
    return out


def _module_name(rel: str) -> str | None:
    """``models/costs.py`` -> ``mlsys_kit.models.costs``; ``models/__init__.py`` -> ``mlsys_kit.models``."""
    if not rel.endswith(".py"):
        return None
    parts = rel[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([KIT, *parts])


def _resolve(module: str | None, level: int, name: str, is_package: bool) -> str | None:
    """The absolute module name of ``from <level dots><module> import ...`` in module ``name``."""
    if not level:
        return module
    base = name.split(".") if is_package else name.split(".")[:-1]
    if level - 1 > len(base) - 1:
        return None  # beyond the top package: an ImportError at run time
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def import_time_imports(tree: ast.Module, name: str, is_package: bool) -> set[str]:
    """Every module name an import statement that runs when the module is imported names:
    module level, and inside module-level compound statements and class bodies; never inside a
    function or lambda body. ``from a import b`` gives ``a`` and ``a.b`` (the caller keeps
    ``a.b`` only if it is a module)."""
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue  # decorators and defaults run at import time, but cannot hold an import statement
            if isinstance(child, ast.Import):
                out.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(child.module, child.level, name, is_package)
                if base:
                    out.add(base)
                    out.update(f"{base}.{a.name}" for a in child.names if a.name != "*")
            visit(child)

    visit(tree)
    return out


def _prefixes(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


@functools.lru_cache(maxsize=64)
def _plan(reference: tuple[str, ...], root_s: str) -> KitPlan:
    root = Path(root_s)
    files = _all_files(root)
    modules: dict[str, str] = {}  # module name -> rel path of its .py
    for rel in files:
        name = _module_name(rel)
        if name and "__pycache__" not in rel.split("/") and not (root / rel).is_symlink():
            modules[name] = rel
    packages = {m for m, rel in modules.items() if rel.endswith("__init__.py")}

    dropped: dict[str, str] = {}
    ref_dirs: list[str] = []
    for ref in reference:
        if ref != KIT and not ref.startswith(KIT + "."):
            raise ValueError(f"reference module {ref!r} is not part of {KIT}: the sandbox cannot leave it out")
        rel_dir = "/".join(ref.split(".")[1:])
        if ref in packages or (rel_dir and (root / rel_dir).is_dir()) or ref == KIT:
            ref_dirs.append(rel_dir)
            for m, rel in modules.items():
                if rel == rel_dir or rel.startswith(rel_dir + "/") or not rel_dir:
                    dropped[m] = f"part of the reference {ref}"
        elif ref in modules:
            dropped[ref] = "the reference"
        else:
            raise ValueError(f"reference module {ref!r} is not in the kit at {root}")

    deps: dict[str, list[str]] = {}
    for m, named in _imports(root, modules, packages).items():
        found = {p for n in named for p in _prefixes(n) if p in modules}
        found |= {p for p in _prefixes(m)[:-1] if p in modules}  # its parent packages run first
        found.discard(m)
        deps[m] = sorted(found)

    changed = True
    while changed:
        changed = False
        for m in sorted(modules):
            if m in dropped:
                continue
            hit = next((d for d in deps[m] if d in dropped), None)
            if hit is not None:
                parent = m.startswith(hit + ".")
                dropped[m] = f"its package {hit} is dropped" if parent else f"imports {hit}"
                changed = True

    dropped_dirs = [rel.rsplit("/", 1)[0] if "/" in rel else "" for m, rel in modules.items()
                    if m in dropped and rel.endswith("__init__.py")] + ref_dirs
    keep = []
    for rel in files:
        parts = rel.split("/")
        if "__pycache__" in parts or rel.endswith(COMPILED) or (root / rel).is_symlink():
            continue
        if any(d == "" or rel.startswith(d + "/") for d in dropped_dirs):
            continue
        name = _module_name(rel)
        if name in dropped:
            continue
        keep.append(rel)
    return KitPlan(root=root, reference=reference, keep=tuple(sorted(keep)), dropped=dict(sorted(dropped.items())))


def _imports(root: Path, modules: dict[str, str], packages: set[str]) -> dict[str, list[str]]:
    """{module: the module names its import-time imports name}, parsed or taken from the cache."""
    cache_dir = _cache_dir()
    cache: dict = {}
    if cache_dir is not None:
        try:
            cache = json.loads((cache_dir / CACHE_FILE).read_text())
        except (OSError, ValueError):
            cache = {}
        if type(cache) is not dict:
            cache = {}
    out, fresh = {}, {}
    for m, rel in modules.items():
        data = (root / rel).read_bytes()
        key = hashlib.sha256(f"{m}\0{m in packages}\0".encode() + data).hexdigest()
        names = cache.get(key)
        if type(names) is not list or not all(type(n) is str for n in names):
            try:
                names = sorted(import_time_imports(ast.parse(data), m, m in packages))
            except SyntaxError:
                names = []  # it cannot be imported at all
            fresh[key] = names
        out[m] = names
    if fresh and cache_dir is not None:
        keep = {k: v for k, v in cache.items() if k not in fresh}
        keep = dict(list(keep.items())[-(CACHE_ENTRIES - len(fresh)):]) if len(fresh) < CACHE_ENTRIES else {}
        keep.update(fresh)
        try:
            with tempfile.NamedTemporaryFile("w", dir=cache_dir, delete=False, suffix=".tmp") as f:
                json.dump(keep, f)
            os.replace(f.name, cache_dir / CACHE_FILE)
        except OSError:
            pass
    return out


def _cache_dir() -> Path | None:
    """The grader's own cache folder, or None when it is not safely ours (then nothing is cached)."""
    path = Path(tempfile.gettempdir()) / f"mlsys-kit-cache-{os.getuid()}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return path


def _main(argv: list[str] | None = None) -> int:
    """``python -m autograder.submission.kit NOTEBOOK...``: what each lab's sandbox leaves out."""
    import argparse

    import nbformat

    p = argparse.ArgumentParser(prog="python -m autograder.submission.kit", description=_main.__doc__)
    p.add_argument("notebooks", nargs="+")
    args = p.parse_args(argv)
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        ref = nb.metadata.get("mlsys_grade", {}).get("reference", [])
        plan = kit_plan(ref)
        print(f"{Path(path).stem}: reference {', '.join(ref) or '(none)'}; keeps {len(plan.keep)} files, "
              f"drops {len(plan.dropped)} modules")
        for m, why in plan.dropped.items():
            print(f"    {m}: {why}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
