"""The sandbox's file system is built from nothing, and the lab's reference is absent from it.

* The kit filter (``autograder.submission.kit``): its rules on a toy kit; on the real kit, for every
  lab, no kept file imports a dropped module at import time (checked by an oracle written
  apart from the filter), every reference module is dropped, and importing every kept module
  from a filtered copy (in a subprocess) loads no reference module and nothing from outside it.
* The root (``autograder.submission.sandbox_root.build_root``, run in fresh namespaces, also inside a user
  namespace as a grader that is not root gets): exactly the paths, mounts, ``/etc`` and ``/dev``
  entries it should hold, read-only but for ``/tmp`` and ``/dev/shm``; the kit copy holds exactly
  the filtered files; a plain (non-editable) install of the kit in the environment is covered by
  the filtered copy, an installed ``autograder`` package by an empty folder.
* Per lab, in the real sandbox: every dropped module cannot be found, and its kit holds exactly
  ``kit_files``; each lab's sandbox-side cells' kit imports survive the filter (labs 3 and 4 do
  not yet: their setup imports packages whose ``__init__`` imports the reference).
* One batch of lab-0 submissions graded by ``mlsys-grade autograde --jobs 2``, each taking the
  reference (or a classmate's work, or another submission's leftovers) one way and scoring 0:
  direct import, a module that re-exports it, an attribute walk over every kit module and
  ``gc``, ``importlib`` from its original path, ``marshal`` of its ``.pyc``, ``linecache``,
  ``inspect.getsource``, ``zipimport`` of every zip on the visible file system (a wheel of the
  kit sits in a world-readable class folder), a scan of the whole visible file system for a line
  only the reference holds, classmates' notebooks in a world-readable folder beside the course,
  a System V shared-memory segment and message queue left by another submission (and checked
  for on the machine afterwards); and the host name, which a submission can neither set for
  the next one nor for the machine.
"""

from __future__ import annotations

import ast
import ctypes
import functools
import importlib.util
import json
import os
import py_compile
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.submission.plan import PlanCell
from autograder.submission.sandbox import SandboxedExecute, _unshare_prefix, isolation_available
from autograder.submission.kit import _plan, copy_kit, kit_dir, kit_files, kit_plan
from autograder.submission.sandbox_root import DEVICES, TOP_LEVEL
from grading_helpers import FULL, LAB, ROOT, cell, grade, new_course

REFERENCE = "mlsys_kit.models.costs"
LABS = sorted(p.parent.name for p in (ROOT / "labs" / "source").glob("*/*.ipynb"))
needs_isolation = pytest.mark.skipif(not isolation_available(), reason="Linux namespaces are not available here")


def lab_reference(lab: str) -> list[str]:
    nb = nbformat.read(ROOT / "labs" / "source" / lab / f"{lab}.ipynb", as_version=4)
    return nb.metadata["mlsys_grade"]["reference"]


def module_of(rel: str) -> str | None:
    if not rel.endswith(".py"):
        return None
    parts = ["mlsys_kit", *rel[:-3].split("/")]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


# ---- the filter's rules, on a toy kit -------------------------------------------------------------
TOY = {
    "__init__.py": "",
    "base.py": "X = 1\n",
    "ref.py": "from .base import X\nSECRET = 'only-in-ref'\n",
    "pkg/__init__.py": "from . import ref_user\n",  # re-exports a module that imports ref: the package goes
    "pkg/ref_user.py": "from mlsys_kit import ref\n",
    "pkg/data.json": "{}\n",
    "lazy.py": "def f():\n    from mlsys_kit import ref\n    return ref\n",  # inside a function: kept
    "lambda_only.py": "g = lambda: __import__('mlsys_kit.ref')\n",  # no import statement: kept
    "guarded.py": "try:\n    from mlsys_kit.ref import SECRET\nexcept ImportError:\n    SECRET = None\n",
    "in_if.py": "import sys\nif sys.version_info > (3,):\n    import mlsys_kit.ref as r\n",
    "in_with.py": "import contextlib\nwith contextlib.suppress(ImportError):\n    from . import ref\n",
    "in_class.py": "class C:\n    from .ref import SECRET\n",
    "in_method.py": "class C:\n    def m(self):\n        from .ref import SECRET\n        return SECRET\n",
    "from_pkg_name.py": "from mlsys_kit import base, ref\n",  # `from pkg import name`, name a module
    "from_pkg_attr.py": "from mlsys_kit.base import X\n",
    "chain.py": "from .guarded import SECRET\n",  # transitively
    "sub/__init__.py": "",
    "sub/deep.py": "from ..in_class import C\n",  # relative, two levels up: transitively
    "sub/fine.py": "from .. import base\nfrom ..lazy import f\n",
    "whole/__init__.py": "",  # a reference package: everything under it
    "whole/a.py": "",
    "whole/notes.txt": "x\n",
    "uses_whole.py": "import mlsys_kit.whole.a\n",
    "__pycache__/base.cpython-311.pyc": "",
    "sub/__pycache__/fine.cpython-311.pyc": "",
    "stray.pyc": "",
}


@pytest.fixture()
def toy(tmp_path):
    root = tmp_path / "mlsys_kit"
    for rel, text in TOY.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "alias.py").symlink_to(root / "ref.py")  # a link could name the reference: never copied
    return root


def test_the_filter_rules_on_a_toy_kit(toy):
    plan = _plan(("mlsys_kit.ref", "mlsys_kit.whole"), str(toy))
    assert set(plan.keep) == {"__init__.py", "base.py", "lazy.py", "lambda_only.py", "from_pkg_attr.py", "in_method.py",
                              "sub/__init__.py", "sub/fine.py"}, plan.keep
    assert plan.dropped["mlsys_kit.ref"] == "the reference"
    assert plan.dropped["mlsys_kit.pkg"] == "imports mlsys_kit.pkg.ref_user"
    assert plan.dropped["mlsys_kit.pkg.ref_user"] == "imports mlsys_kit.ref"
    assert plan.dropped["mlsys_kit.sub.deep"] == "imports mlsys_kit.in_class"
    assert plan.dropped["mlsys_kit.uses_whole"] == "imports mlsys_kit.whole"
    assert plan.dropped["mlsys_kit.whole.a"] == "part of the reference mlsys_kit.whole"
    for name in ("guarded", "in_if", "in_with", "in_class", "from_pkg_name", "chain"):
        assert f"mlsys_kit.{name}" in plan.dropped, name
    assert "pkg/data.json" not in plan.keep and "whole/notes.txt" not in plan.keep  # files of a dropped package
    # no reference: everything but compiled files and links
    assert set(_plan((), str(toy)).keep) == {r for r in TOY if not r.endswith(".pyc")}


def test_the_filter_refuses_what_it_cannot_leave_out(toy):
    with pytest.raises(ValueError, match="not in the kit"):
        _plan(("mlsys_kit.nothing",), str(toy))
    with pytest.raises(ValueError, match="not part of mlsys_kit"):
        _plan(("numpy",), str(toy))
    with pytest.raises(TypeError):
        kit_files("mlsys_kit.models.costs")


def test_copy_kit_copies_exactly_the_kept_files(tmp_path):
    copy_kit([REFERENCE], tmp_path)
    got = sorted(p.relative_to(tmp_path / "mlsys_kit").as_posix() for p in (tmp_path / "mlsys_kit").rglob("*")
                 if p.is_file())
    assert got == kit_files([REFERENCE]) and "models/costs.py" not in got
    assert kit_files([REFERENCE]) is not kit_files([REFERENCE]) and kit_plan([REFERENCE]) is kit_plan([REFERENCE])


# ---- the filter on the real kit, every lab --------------------------------------------------------
@functools.lru_cache(maxsize=None)
def import_time_modules(path: Path, name: str) -> frozenset[str]:
    """An oracle written apart from the filter: every module an import statement outside any
    function body names, with importlib resolving relative imports (``from a import b``: a, a.b)."""
    tree = ast.parse(path.read_bytes())
    parents = {c: p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        up, in_function = node, False
        while up in parents:
            up = parents[up]
            in_function |= isinstance(up, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        if in_function:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        else:
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) if node.level \
                else node.module
            out |= {base} | {f"{base}.{a.name}" for a in node.names}
    return frozenset(".".join(n.split(".")[:i]) for n in out for i in range(1, n.count(".") + 2))


@pytest.mark.parametrize("lab", LABS)
def test_no_kept_file_imports_a_dropped_module_and_the_reference_is_dropped(lab):
    reference = lab_reference(lab)
    keep = kit_files(reference)
    root = kit_dir()
    modules = {module_of(r) for r in (p.relative_to(root).as_posix() for p in root.rglob("*.py"))}
    kept = {module_of(r) for r in keep if r.endswith(".py")}
    assert kept and kept < modules
    for rel in keep:
        assert "__pycache__" not in rel and not rel.endswith((".pyc", ".pyo")), rel
        for ref in reference:
            ref_rel = ref.split(".", 1)[1].replace(".", "/")
            assert rel != ref_rel + ".py" and not rel.startswith(ref_rel + "/"), (rel, ref)
        name = module_of(rel)
        if name is None:
            continue
        parents = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        needed = (import_time_modules(root / rel, name) | parents) & modules
        assert needed <= kept, f"{rel} imports {sorted(needed - kept)}, which the filter drops for {lab}"


def test_importing_every_kept_module_from_a_filtered_copy_loads_no_reference(tmp_path):
    """One subprocess, every lab in turn: the kit's modules are forgotten, the lab's filtered copy
    goes first on sys.path, every kept module is imported; none may fail, none may come from
    outside the copy (the editable install's finder would find the whole kit), and no reference
    module may be loaded."""
    labs = {}
    for lab in LABS:
        reference = lab_reference(lab)
        copy_kit(reference, tmp_path / lab)
        labs[lab] = {"root": str(tmp_path / lab), "reference": reference,
                     "modules": sorted(filter(None, map(module_of, kit_files(reference))))}
    child = r'''
import importlib, json, os, sys
out = {}
for lab, spec in json.loads(sys.argv[1]).items():
    for name in [n for n in sys.modules if n == "mlsys_kit" or n.startswith("mlsys_kit.")]:
        del sys.modules[name]
    sys.path.insert(0, spec["root"])
    importlib.invalidate_caches()
    failed = {}
    for name in spec["modules"]:
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed[name] = repr(exc)[:300]
    loaded = {n: getattr(m, "__file__", None) for n, m in sys.modules.items()
              if n == "mlsys_kit" or n.startswith("mlsys_kit.")}
    out[lab] = {"failed": failed, "reference": sorted(n for n in loaded if any(n == r or n.startswith(r + ".")
                                                                               for r in spec["reference"])),
                "outside": sorted(n for n, f in loaded.items() if not (f or "").startswith(spec["root"] + os.sep)),
                "loaded": len(loaded)}
    sys.path.remove(spec["root"])
print(json.dumps(out))
'''
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    res = subprocess.run([sys.executable, "-c", child, json.dumps(labs)], capture_output=True, text=True,
                         timeout=300, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout)
    for lab, r in out.items():
        assert r["failed"] == {} and r["reference"] == [] and r["outside"] == [], (lab, r)
        assert r["loaded"] == len(labs[lab]["modules"]), (lab, r)


# ---- the root, built in fresh namespaces ----------------------------------------------------------
INSIDE = r'''
import json, os, sys
from autograder.submission.sandbox_root import build_root
build_root(json.loads(sys.argv[1]))
def listing(p):
    try:
        return sorted(os.listdir(p))
    except OSError as e:
        return "blocked %d" % e.errno
def tree(p):
    return sorted(os.path.relpath(os.path.join(b, f), p) for b, _d, fs in os.walk(p) for f in fs)
def writes(p):
    try:
        open(p, "w").close()
        return "wrote"
    except OSError as e:
        return "blocked %d" % e.errno
paths = json.loads(sys.argv[2])
print(json.dumps({
    "root": listing("/"), "etc": listing("/etc"), "dev": listing("/dev"), "tmp": listing("/tmp"),
    "mounts": sorted(line.split()[4] for line in open("/proc/self/mountinfo")),
    "kit": tree(paths["kit"]), "lists": {p: listing(p) for p in paths["list"]},
    "writes": {p: writes(p) for p in paths["write"]},
    "passwd": open("/etc/passwd").read(), "hosts": open("/etc/hosts").read(),
}))
'''


def build_inside(kit: Path, files: list[str], python: str = sys.executable, userns: bool = False,
                 listed: tuple = (), extra_env: dict | None = None) -> dict:
    """build_root in fresh namespaces (as the sandbox's setup runs it), then what it holds."""
    cfg = {"repo": str(ROOT), "kit": {"path": str(kit), "files": files}}
    paths = {"kit": str(kit), "list": [str(ROOT), str(kit.parent), "/work", "/root", *listed],
             "write": ["/planted", "/etc/planted", "/usr/planted", str(kit / "planted.py"), "/tmp/ok", "/dev/shm/ok",
                       "/dev/planted"]}
    prefix = _unshare_prefix()
    if userns and "--user" not in prefix:
        prefix = [prefix[0], "--user", "--map-root-user", *prefix[1:]]
    env = dict(os.environ, PYTHONPATH=str(ROOT), **(extra_env or {}))
    res = subprocess.run([*prefix, python, "-c", INSIDE, json.dumps(cfg), json.dumps(paths)], capture_output=True,
                         text=True, timeout=120, env=env, cwd="/")
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout)


def expected_roots(*paths: str) -> tuple[set, set]:
    """(top-level names, mount points) a root built for these interpreter/kit paths may hold."""
    top = {"dev", "etc", "proc", "tmp", "usr"} | {n for n in TOP_LEVEL if os.path.lexists("/" + n)}
    mounts = {"/", "/proc", "/proc/sys", "/tmp", "/dev", "/dev/shm", "/usr"} | {f"/dev/{d}" for d in DEVICES}
    mounts |= {"/" + n for n in TOP_LEVEL if os.path.isdir("/" + n) and not os.path.islink("/" + n)}
    for p in paths:
        for q in (os.path.abspath(p), os.path.realpath(p)):
            top.add(Path(q).parts[1])
    return top, mounts


@needs_isolation
@pytest.mark.parametrize("userns", [False, True], ids=["as-root", "user-namespace"])
def test_the_root_holds_only_what_it_should(userns):
    files = kit_files([REFERENCE])
    got = build_inside(kit_dir(), files, userns=userns)
    top, mounts = expected_roots(sys.base_prefix, sys.prefix, str(ROOT), str(kit_dir()))
    assert {"dev", "etc", "proc", "tmp", "usr"} <= set(got["root"]) <= top, got["root"]
    etc = {"passwd", "group", "hosts", "nsswitch.conf", "hostname"} | {
        n for n in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime") if os.path.lexists("/etc/" + n)}
    assert set(got["etc"]) == etc, got["etc"]
    assert set(got["dev"]) == set(DEVICES) | {"fd", "stdin", "stdout", "stderr", "shm"}, got["dev"]
    assert got["tmp"] == [] or all(Path(p).resolve().parts[1] == "tmp" for p in (ROOT, sys.prefix)), got["tmp"]
    envs = {os.path.realpath(p) for p in (sys.base_prefix, sys.prefix)}
    if (ROOT / ".venv").is_dir():
        envs.add(os.path.realpath(ROOT / ".venv"))
    allowed = mounts | envs | {os.path.realpath(kit_dir()), str(ROOT / "autograder")}
    assert set(got["mounts"]) <= allowed, sorted(set(got["mounts"]) - allowed)
    assert got["kit"] == files, "the kit in the sandbox is not exactly the filtered files"
    assert got["lists"][str(ROOT)] == sorted({"autograder", "mlsys_kit"} | ({".venv"} if (ROOT / ".venv").is_dir()
                                                                             else set()))
    writes = got["writes"]
    assert writes.pop("/tmp/ok") == "wrote" and writes.pop("/dev/shm/ok") == "wrote"
    assert all(v.startswith("blocked") for v in writes.values()), writes
    assert "nobody:x:65534" in got["passwd"] and "localhost" in got["hosts"]


@needs_isolation
def test_a_plain_install_of_the_kit_in_the_environment_is_covered(tmp_path):
    """mlsys_kit installed non-editable into site-packages (a copy there, with the reference and
    its .pyc), and an installed autograder package: the sandbox sees the filtered copy at the
    kit's path in site-packages, and an empty folder for autograder."""
    base = Path("/var/tmp") / f"mlsys-venv-{secrets.token_hex(4)}"  # outside /tmp: the venv is bound, not hidden
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(base)], check=True, capture_output=True,
                       timeout=120)
        site = Path(subprocess.run([str(base / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                    "['purelib'])"], check=True, capture_output=True, text=True).stdout.strip())
        shutil.copytree(kit_dir(), site / "mlsys_kit", ignore=shutil.ignore_patterns("__pycache__"))
        py_compile.compile(str(site / "mlsys_kit/models/costs.py"), doraise=True)
        (site / "autograder").mkdir()
        (site / "autograder" / "judge.py").write_text("HIDDEN = 1\n")
        files = [r for r in _plan((REFERENCE,), str(site / "mlsys_kit")).keep]
        assert files == kit_files([REFERENCE])
        got = build_inside(site / "mlsys_kit", files, python=str(base / "bin" / "python"),
                           listed=(str(site / "autograder"), str(site / "mlsys_kit" / "models")))
        assert got["kit"] == files
        assert got["lists"][str(site / "autograder")] == []
        assert "costs.py" not in got["lists"][str(site / "mlsys_kit" / "models")]
        assert got["lists"][str(ROOT)] == ["autograder"]  # no kit at the checkout: the grader imports the installed one
    finally:
        shutil.rmtree(base, ignore_errors=True)


# ---- per lab, in the real sandbox -----------------------------------------------------------------
def sandbox_run(code: str, reference: list[str], tmp_path: Path, timeout: int = 60) -> str:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    ex = SandboxedExecute()
    ex.timeout = timeout
    outputs, notes = ex.grade([PlanCell(0, "student", "probe", code)], [], work, tmp_path, reference=reference)
    assert "fatal" not in outputs, outputs
    return "".join(o.get("text", "") + o.get("evalue", "") for o in outputs[0])


PROBE = r'''
import importlib.util, json, os, sys
import mlsys_kit
dropped, found = json.loads({dropped!r}), []
for name in dropped:
    try:
        if importlib.util.find_spec(name) is not None:
            found.append(name)
    except ImportError:
        pass
root = os.path.dirname(mlsys_kit.__file__)
files = sorted(os.path.relpath(os.path.join(b, f), root) for b, _d, fs in os.walk(root) for f in fs)
init = open("/proc/1/cmdline").read().split(chr(0))[1:-1]  # the setup, the PID namespace's init
print("PROBE", json.dumps({{"found": found, "files": files, "where": root, "init": init}}))
'''


@needs_isolation
@pytest.mark.parametrize("lab", LABS)
def test_in_the_sandbox_every_dropped_module_is_absent(lab, tmp_path):
    reference = lab_reference(lab)
    plan = kit_plan(reference)
    text = sandbox_run(PROBE.format(dropped=json.dumps(sorted(plan.dropped))), reference, tmp_path)
    got = json.loads(text.split("PROBE ", 1)[1].splitlines()[0])
    assert got["found"] == [], got["found"]
    assert got["files"] == list(plan.keep) and got["where"] == str(kit_dir())
    assert got["init"] == ["-m", "autograder.submission.sandbox_root", "-"]  # its config came on stdin: argv names nothing


@pytest.mark.parametrize("lab", LABS)
def test_each_labs_sandbox_side_kit_imports_survive_its_filter(lab):
    """Every kit import in the cells that run in the sandbox (locked, checker and solution cells)
    names only kept modules (``from a import b``: b an attribute, or a kept module)."""
    from autograder.qa.run import plan_for

    nb = nbformat.read(ROOT / "labs" / "source" / lab / f"{lab}.ipynb", as_version=4)
    keep = kit_files(nb.metadata["mlsys_grade"]["reference"])
    kept = {module_of(r) for r in keep if r.endswith(".py")}
    everything = {module_of(p.relative_to(kit_dir()).as_posix()) for p in kit_dir().rglob("*.py")}
    missing = []
    for cell in plan_for(nb, {}):
        if cell.kind == "test":
            continue
        gid, code = cell.gid, cell.code
        tree = ast.parse("\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines()))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] + [f"{node.module}.{a.name}" for a in node.names] \
                if isinstance(node, ast.ImportFrom) and node.module else []
            for name in names:
                if name.split(".")[0] == "mlsys_kit":
                    need = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 2)} & everything
                    missing += [f"{gid}: {n}" for n in sorted(need - kept)]
    assert not missing, missing


# ---- one batch: the routes to the reference, classmates' work and leftovers, all scoring 0 ----------
ROUTE = '''import os, sys, types
from dataclasses import asdict
ORIGINAL = {original!r}


def _load(text, name="stolen"):
    m = types.ModuleType(name)
    sys.modules[name] = m
    exec(compile(text, name, "exec") if isinstance(text, str) else text, m.__dict__)
    return m


def _wrap(m):
    return lambda cfg: m.param_count(m.TransformerConfig(**asdict(cfg)))


def _find():
{body}


try:
    _use = _find()
    print("FOUND", _use)
except Exception as _e:
    _use = None
    print("ABSENT", type(_e).__name__, str(_e)[:300])


def param_count(cfg):
    return _use(cfg)
'''

BODIES = {
    "direct": '''from mlsys_kit.models import costs
return _wrap(costs)''',
    "re-export": '''import importlib
for name in ("mlsys_kit.parallel.model", "mlsys_kit.parallel.planner", "mlsys_kit.viz.costs", "mlsys_kit.models.cli",
             "mlsys_kit.models.demo", "mlsys_kit.serving.config", "mlsys_kit.serving.placement", "mlsys_kit.models"):
    try:
        m = importlib.import_module(name)
    except ImportError as e:
        print("no", name, e)
        continue
    if hasattr(m, "costs"):
        return _wrap(m.costs)
    if hasattr(m, "param_count") and hasattr(m, "TransformerConfig"):
        return _wrap(m)
raise LookupError("no kit module re-exports it")''',
    "attribute-walk": '''import gc, importlib, pkgutil, mlsys_kit
for info in pkgutil.walk_packages(mlsys_kit.__path__, "mlsys_kit.", onerror=lambda name: None):
    try:
        importlib.import_module(info.name)
    except Exception:
        pass
print("kit modules loaded:", sum(n.startswith("mlsys_kit") for n in sys.modules))
want = "mlsys_kit.models." + "costs"
if want in sys.modules:
    return _wrap(sys.modules[want])
found = [v for m in list(sys.modules.values()) for v in list(getattr(m, "__dict__", {}).values())]
for obj in found + gc.get_objects():
    try:
        if getattr(obj, "__name__", None) == want:
            return _wrap(obj)
        if getattr(obj, "__module__", None) == want and hasattr(obj, "__globals__"):
            return _wrap(types.SimpleNamespace(**obj.__globals__))
    except Exception:
        pass
raise LookupError("nothing of the reference in any loaded module or object")''',
    "spec-from-file": '''import importlib.util, mlsys_kit
for path in (ORIGINAL, os.path.join(os.path.dirname(mlsys_kit.__file__), "models", "co" + "sts.py")):
    try:
        spec = importlib.util.spec_from_file_location("stolen", path)
        m = importlib.util.module_from_spec(spec)
        sys.modules["stolen"] = m
        spec.loader.exec_module(m)
        return _wrap(m)
    except Exception as e:
        print("no", path, type(e).__name__)
raise LookupError("no file to load")''',
    "marshal-pyc": '''import glob, importlib.util, marshal, mlsys_kit
found = [importlib.util.cache_from_source(ORIGINAL)]
for top in (os.path.dirname(mlsys_kit.__file__), os.path.dirname(ORIGINAL), sys.prefix):
    found += glob.glob(os.path.join(top, "**", "*.pyc"), recursive=True)
for p in found:
    if "co" + "sts" not in os.path.basename(p):
        continue
    try:
        data = open(p, "rb").read()
    except OSError:
        continue
    return _wrap(_load(marshal.loads(data[16:])))
raise LookupError(f"no cached bytecode of it among {len(found)} .pyc files")''',
    "linecache": '''import linecache
lines = linecache.getlines(ORIGINAL)
if not lines:
    raise LookupError("linecache has nothing for " + ORIGINAL)
return _wrap(_load("".join(lines)))''',
    "inspect-getsource": '''import inspect
m = types.ModuleType("mlsys_kit.models." + "costs")
m.__file__ = ORIGINAL
return _wrap(_load(inspect.getsource(m)))''',
    "zipimport": '''import importlib.util, zipfile, zipimport
zips = []
for base, dirs, files in os.walk("/"):
    if base == "/":
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
    zips += [os.path.join(base, f) for f in files if f.endswith((".zip", ".whl", ".egg", ".pyz"))]
for z in zips:
    try:
        names = zipfile.ZipFile(z).namelist()
    except Exception:
        continue
    for n in names:
        if n.endswith("mlsys_kit/models/" + "costs.py"):
            spec = zipimport.zipimporter(os.path.join(z, os.path.dirname(n))).find_spec("co" + "sts")
            m = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = m
            spec.loader.exec_module(m)
            return _wrap(m)
raise LookupError(f"none of the {len(zips)} zips on the visible file system holds it")''',
    "scan-file-system": '''import stat
needle = {needle_a!r} + {needle_b!r}
scanned, hits = 0, []
for base, dirs, files in os.walk("/"):
    if base == "/":
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
    for f in files:
        if not f.endswith((".py", ".pyc", ".pyi", ".ipynb", ".txt", ".md", ".rst", ".json", ".html")):
            continue
        p = os.path.join(base, f)
        try:
            st = os.stat(p, follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode) or st.st_size > 1 << 20:
                continue
            data = open(p, "rb").read()
        except OSError:
            continue
        scanned += 1
        if needle.encode() in data:
            hits.append(p)
print("SCANNED", scanned, "HITS", hits)
for p in hits:
    if p.endswith(".py"):
        return _wrap(_load(open(p).read()))
raise LookupError("the line is nowhere on the visible file system")''',
    "classmates": '''import json
for p in {classmates!r}:
    try:
        print("LISTED", p, sorted(os.listdir(p)))
    except OSError as e:
        print("blocked", p, e.errno)
for p in {notebooks!r}:
    try:
        nb = json.load(open(p))
    except OSError as e:
        print("blocked", p, e.errno)
        continue
    src = next("".join(c["source"]) for c in nb["cells"] if c.get("metadata", {{}}).get("nbgrader", {{}}).get(
        "grade_id") == "param_count")
    ns = dict(globals())  # the notebook's names (the lab's Config)
    exec(src, ns)
    return ns["param_count"]
raise LookupError("no classmate's notebook")''',
    "ipc-reader": '''import ctypes, socket, time
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
deadline = time.time() + 3
while True:
    shm = libc.shmget({key}, 0, 0)
    msq = libc.msgget({key}, 0)
    if shm >= 0 or time.time() > deadline:
        break
    time.sleep(0.2)
print("SHM", shm, "MSQ", msq, "HOSTNAME", socket.gethostname())
if shm < 0:
    raise LookupError("no segment left by another submission")
addr = libc.shmat(shm, None, 0)
ns = dict(globals())
exec(ctypes.string_at(addr).decode(), ns)
return ns["param_count"]''',
}
FORMATTED = ("scan-file-system", "classmates", "ipc-reader")  # bodies with {fields} the batch fills in

IPC_WRITER = '''import ctypes
_libc = ctypes.CDLL(None, use_errno=True)
_libc.shmat.restype = ctypes.c_void_p
_src = {solution!r}.encode()
_id = _libc.shmget({key}, 1 << 16, 0o1666)  # IPC_CREAT | 0666, never removed
_addr = _libc.shmat(_id, None, 0)
ctypes.memmove(_addr, _src, len(_src))
_libc.shmdt(ctypes.c_void_p(_addr))
_q = _libc.msgget({key}, 0o1666)
print("PLANTED", _id, _q)
'''
UTS_SETS = '''import ctypes, socket
_libc = ctypes.CDLL(None, use_errno=True)
_name = {name!r}.encode()
_rc = _libc.sethostname(_name, len(_name))
print("SETHOSTNAME", _rc, ctypes.get_errno(), "NOW", socket.gethostname())
'''


def indent(body: str) -> str:
    return "".join("    " + line + "\n" if line else "\n" for line in body.splitlines())


def reference_only_line() -> str:
    """The longest line of the reference that no other file of the kit (or the repository's
    docs and labs) holds."""
    others = "".join(p.read_text(errors="replace") for top in ("mlsys_kit", "docs", "labs", "tests", "autograder")
                     for p in (ROOT / top).rglob("*") if p.is_file() and p.suffix in (".py", ".md", ".ipynb")
                     and p != kit_dir() / "models" / "costs.py")
    lines = sorted({line.strip() for line in (kit_dir() / "models" / "costs.py").read_text().splitlines()}, key=len)
    return next(line for line in reversed(lines) if len(line) >= 40 and line not in others)


def host_ipc_left(key: int) -> list[str]:
    """SysV objects with ``key`` in the host's IPC namespace (removed, and named, if any)."""
    libc = ctypes.CDLL(None, use_errno=True)
    left = []
    shm = libc.shmget(key, 0, 0)
    if shm >= 0:
        libc.shmctl(shm, 0, None)  # IPC_RMID
        left.append(f"shared memory {shm}")
    msq = libc.msgget(key, 0)
    if msq >= 0:
        libc.msgctl(msq, 0, None)
        left.append(f"message queue {msq}")
    return left


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    base = Path("/var/tmp") / f"mlsys-sbxroot-{secrets.token_hex(4)}"  # world-readable, outside /tmp
    key = secrets.randbelow(1 << 30) + 1
    hostname = socket.gethostname()
    costs = kit_dir() / "models" / "costs.py"
    if not Path(importlib.util.cache_from_source(str(costs))).is_file():
        py_compile.compile(str(costs), doraise=True)  # its .pyc exists on the machine, as after any import
    try:
        base.mkdir(mode=0o755)
        base.chmod(0o755)
        course = base / "course"
        course.mkdir()
        release, solved = new_course(course)
        # a class folder beside the course, world-readable: classmates' notebooks and a wheel of the kit
        classmates = base / "class-download"
        notebooks = []
        for student in ("alice", "bob"):
            (classmates / student).mkdir(parents=True)
            nbformat.write(solved, classmates / student / f"{LAB}.ipynb")
            notebooks.append(str(classmates / student / f"{LAB}.ipynb"))
        with zipfile.ZipFile(classmates / "mlsys_kit-0.1.0-py3-none-any.whl", "w") as z:
            for p in kit_dir().rglob("*.py"):
                z.write(p, "mlsys_kit/" + p.relative_to(kit_dir()).as_posix())
        for p in [base, *base.rglob("*")]:
            if p != course and course not in p.parents:
                p.chmod(0o755 if p.is_dir() else 0o644)
        line = reference_only_line()
        solution = next(c.source for c in solved.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                        == "param_count")
        fmt = {"original": str(costs), "needle_a": line[:len(line) // 2], "needle_b": line[len(line) // 2:],
               "classmates": [str(classmates), str(base)], "notebooks": notebooks, "key": key}
        cases = {f"route-{name}": (cell(release, "param_count", ROUTE.format(
            original=str(costs), body=indent(body.format(**fmt) if name in FORMATTED else body))), "graded", 0)
            for name, body in BODIES.items()}
        # another submission's leftovers: a SysV segment and queue, and a host name it tries to set
        cases["ipc-a-writer"] = (cell(solved, "kv_bytes", prepend=IPC_WRITER.format(solution=solution, key=key)
                                      + UTS_SETS.format(name=f"planted-{key}")), "graded", FULL)
        cases["honest-solution"] = (solved, "graded", FULL)
        inbox = tmp_path_factory.mktemp("inbox")
        for name, (nb, *_rest) in cases.items():
            (inbox / f"{name}.ipynb").write_text(nbformat.writes(nb))
        res = grade("collect", LAB, str(inbox), course=course)
        assert res.returncode == 0, res.stderr
        res = grade("autograde", LAB, "--jobs", "2", "--timeout", "90", "--notebook-timeout", "200", "--json",
                    course=course)
        assert res.returncode == 0, res.stderr
        results = {r["student"]: r for r in json.loads(res.stdout)["results"]}
        printed = {}
        for name in cases:
            nb = nbformat.read(course / "autograded" / name / LAB / f"{LAB}.ipynb", as_version=4)
            printed[name] = "".join(o.get("text", "") + o.get("evalue", "") for c in nb.cells if c.cell_type == "code"
                                    for o in c.get("outputs", []))
        yield {"cases": cases, "results": results, "printed": printed, "left": host_ipc_left(key),
               "hostname_before": hostname, "hostname_after": socket.gethostname(), "key": key}
    finally:
        shutil.rmtree(base, ignore_errors=True)
        host_ipc_left(key)


ROUTES = [f"route-{name}" for name in BODIES]


@needs_isolation
@pytest.mark.parametrize("name", ROUTES + ["ipc-a-writer", "honest-solution"])
def test_each_submission_scores_what_it_must(batch, name):
    _nb, status, score = batch["cases"][name]
    r = batch["results"][name]
    assert (r["status"], r["score"]) == (status, score), (r, batch["printed"][name][-2000:])


@needs_isolation
@pytest.mark.parametrize("name", ROUTES)
def test_each_route_finds_nothing(batch, name):
    out = batch["printed"][name]
    assert "ABSENT" in out and "FOUND" not in out, out[-2000:]


@needs_isolation
def test_the_routes_looked_where_they_should(batch):
    p = batch["printed"]
    scanned = int(p["route-scan-file-system"].split("SCANNED ", 1)[1].split()[0])
    assert scanned > 1000 and "HITS []" in p["route-scan-file-system"], p["route-scan-file-system"][-1000:]
    assert "zips on the visible file system holds it" in p["route-zipimport"]
    assert "kit modules loaded:" in p["route-attribute-walk"]
    assert p["route-classmates"].count("blocked") == 4 and "LISTED" not in p["route-classmates"]


@needs_isolation
def test_nothing_a_submission_leaves_survives_it(batch):
    p = batch["printed"]
    assert "PLANTED" in p["ipc-a-writer"] and "PLANTED -1" not in p["ipc-a-writer"], p["ipc-a-writer"]
    assert "SHM -1 MSQ -1 HOSTNAME sandbox" in p["route-ipc-reader"], p["route-ipc-reader"]
    assert batch["left"] == [], f"left in the host's IPC namespace: {batch['left']}"
    # the host name: the sandbox's own; one submission cannot set it for the next, nor for the host
    assert "SETHOSTNAME -1 1 NOW sandbox" in p["ipc-a-writer"], p["ipc-a-writer"]  # EPERM
    assert batch["hostname_after"] == batch["hostname_before"] != "sandbox"
