"""One way to author labs: every committed lab notebook is what its labs/authoring/<lab>.py builds,
the builder rejects bad sources with a clear error, and the sources are plain Python."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.course.build import BuildError, authored_labs, build, build_lab, parse, to_notebook

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "labs"
LABS = authored_labs(COURSE)

GOOD = '''# mlsys_grade: {"reference": ["mlsys_kit.models.costs"]}

# %% [markdown] id="intro"
# # Lab 9
#
# Some text.

# %% [markdown]
# Free text, no id.

# %% kind="locked" id="setup"
import math

# %% kind="solution" id="area"
def area(r: float) -> float:
    ### BEGIN SOLUTION
    return math.pi * r * r
    ### END SOLUTION

# %% kind="test" id="test_area" points=2
assert type(area(1.0)) is float
### BEGIN HIDDEN TESTS
assert math.isclose(area(2.0), 4 * math.pi)
### END HIDDEN TESTS

# %% kind="checker" id="checks"
def check_positive(x):
    assert x > 0

# %% [markdown] kind="answer" id="q_why" points=1.5
# Why pi?

# %% [markdown] kind="rubric" id="q_why_rubric"
# Full marks: names the circle's area formula.
'''


def test_every_lab_has_an_authoring_file():
    notebooks = sorted(p.name for p in (COURSE / "source").iterdir() if (p / f"{p.name}.ipynb").is_file())
    assert sorted(LABS) == notebooks
    assert len(LABS) >= 5
    numbers = [int(lab.split("-")[0][3:]) for lab in LABS]
    assert numbers == sorted(numbers), f"labs are listed in course order (lab2 before lab10): {LABS}"


@pytest.mark.parametrize("lab", LABS)
def test_committed_notebook_equals_its_build(lab):
    committed = (COURSE / "source" / lab / f"{lab}.ipynb").read_text()
    assert committed == build_lab(COURSE, lab), f"run `mlsys-grade build {lab}` and commit the notebook"


@pytest.mark.parametrize("lab", LABS)
def test_authoring_file_compiles_and_cells_are_python(lab):
    text = (COURSE / "authoring" / f"{lab}.py").read_text()
    compile(text, f"{lab}.py", "exec")  # the whole file is Python: linters and `duplicates` read it
    nb = nbformat.read(COURSE / "source" / lab / f"{lab}.ipynb", as_version=4)
    ids = [c["id"] for c in nb.cells]
    assert len(ids) == len(set(ids))
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code":
            ast.parse(cell.source)
            assert meta.get("grade_id") == cell["id"]  # deterministic: the id written in the source
        if meta.get("grade"):
            assert meta["points"] > 0
        if meta.get("solution") and cell.cell_type == "code":
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source


def test_builder_output_for_every_kind():
    nb = to_notebook(parse(GOOD, "good.py"))
    assert nb.metadata["mlsys_grade"] == {"reference": ["mlsys_kit.models.costs"]}
    kinds = [(c.cell_type, c["id"], c.metadata.get("nbgrader")) for c in nb.cells]
    assert [k[1] for k in kinds] == ["intro", "cell-1", "setup", "area", "test_area", "checks", "q_why",
                                     "q_why_rubric"]
    meta = {cid: m for _, cid, m in kinds}
    assert meta["cell-1"] is None
    assert meta["intro"]["locked"] and not meta["intro"]["grade"] and not meta["intro"]["solution"]
    assert meta["setup"]["locked"] and not meta["setup"]["solution"]
    assert meta["area"]["solution"] and not meta["area"]["locked"] and not meta["area"]["grade"]
    assert meta["test_area"]["grade"] and meta["test_area"]["points"] == 2 and type(meta["test_area"]["points"]) is int
    assert meta["checks"]["locked"] and nb.cells[5].metadata["mlsys_grade"] == {"kind": "checker"}
    assert meta["q_why"]["solution"] and meta["q_why"]["grade"] and meta["q_why"]["points"] == 1.5
    assert meta["q_why_rubric"]["task"] and nb.cells[7].source.startswith("=== BEGIN MARK SCHEME ===")
    assert nb.cells[0].source == "# Lab 9\n\nSome text."
    assert nb.cells[3].source.splitlines()[1].strip() == "### BEGIN SOLUTION"
    sandbox_only = to_notebook(parse(GOOD.replace('id="checks"', 'id="checks" judge=false'), "good.py"))
    assert sandbox_only.cells[5].metadata["mlsys_grade"] == {"kind": "checker", "judge": False}


@pytest.mark.parametrize("text, message", [
    (GOOD.replace('kind="checker"', 'kind="helper"'), "unknown kind 'helper'"),
    (GOOD.replace('id="checks"', 'id="setup"'), "duplicate id 'setup'"),
    (GOOD.replace(' points=2', ''), "test cell 'test_area' has no points"),
    (GOOD.replace(' points=2', ' points=0'), "points must be a number > 0"),
    (GOOD.replace("    ### END SOLUTION\n", ""), "'### BEGIN SOLUTION' without '### END SOLUTION'"),
    (GOOD.replace("    ### BEGIN SOLUTION\n", "").replace("    ### END SOLUTION\n", ""),
     "no '### BEGIN SOLUTION' / '### END SOLUTION' region"),
    (GOOD.replace('# %% kind="locked" id="setup"', '# %% id="setup"'), "a code cell needs a kind"),
    (GOOD.replace('kind="locked" id="setup"', 'kind="locked"'), "a locked cell needs an id"),
    (GOOD.replace('kind="locked" id="setup"', 'kind="locked" id="set up"'), "ids are 1-64 letters"),
    (GOOD.replace('id="checks"', 'id="checks" point=1'), "unknown cell option(s) ['point']"),
    (GOOD.replace('id="setup"', 'id="setup" points=1'), "only test and answer cells take points"),
    (GOOD.replace('[markdown] kind="answer"', '[markdown] kind="test"'), "unknown kind 'test' for a markdown"),
    (GOOD.replace('# %% [markdown] kind="answer" id="q_why" points=1.5\n# Why pi?\n\n', ''),
     "rubric cell 'q_why_rubric' must follow the answer cell"),
    (GOOD.replace("### END HIDDEN TESTS\n", ""), "'### BEGIN HIDDEN TESTS' without '### END HIDDEN TESTS'"),
    (GOOD.replace("import math\n", "import math\n### BEGIN SOLUTION\n### END SOLUTION\n"),
     "only solution cells hold solutions"),
    (GOOD.replace('# mlsys_grade: {"reference"', '# mlsys_grade: {"refs"'), "keys ['reference']"),
    (GOOD.replace('"reference": ["mlsys_kit.models.costs"]', '"reference": "costs"'), "list of mlsys_kit module"),
    (GOOD.replace("# mlsys_grade", "x = 1\n# mlsys_grade"), "code before the first '# %%' cell"),
    (GOOD.replace('id="test_area" points=2', 'id="test_area" points=2 judge=false'), "judge=false is the one value"),
    (GOOD.replace('id="setup"', 'id="setup" judge=true'), "got judge=True on a locked cell"),
    (GOOD.replace("import math\n", "import math\narea = None\n"), "locked cell 'setup' binds area"),
    (GOOD.replace("assert type(area(1.0)) is float\n", "area = lambda r: 0.0\n"), "test cell 'test_area' binds area"),
    ("x = 1\n", "no '# %%' cell markers"),
])
def test_builder_rejects_bad_sources(text, message):
    with pytest.raises(BuildError) as err:
        to_notebook(parse(text, "bad.py"))
    assert message in str(err.value)


def test_build_writes_then_check_sees_a_stale_notebook(tmp_path):
    (tmp_path / "authoring").mkdir()
    (tmp_path / "authoring" / "lab9.py").write_text(GOOD)
    assert build(tmp_path, check=True) == {"lab9": "missing"}
    assert build(tmp_path) == {"lab9": "written"}
    nb = tmp_path / "source" / "lab9" / "lab9.ipynb"
    first = nb.read_text()
    assert build(tmp_path, ["lab9"]) == {"lab9": "unchanged"} and nb.read_text() == first  # deterministic
    nb.write_text(first.replace("Some text.", "Edited by hand."))
    assert build(tmp_path, check=True) == {"lab9": "differs"}
    with pytest.raises(BuildError, match="no authoring file .*lab8.py: labs with one are lab9"):
        build(tmp_path, ["lab8"])
    with pytest.raises(BuildError, match="lab names are letters"):
        build(tmp_path, ["../x"])


def test_cli_build_check_and_errors(tmp_path, capsys):
    from autograder.cli import main

    shutil.copy(COURSE / "nbgrader_config.py", tmp_path)
    (tmp_path / "authoring").mkdir()
    (tmp_path / "authoring" / "lab9.py").write_text(GOOD)

    def run(*args):
        try:
            rc = main([*args, "--course", str(tmp_path)])
        except SystemExit as exc:  # argparse's exit: status 2 with the message on stderr
            rc = exc.code
        out = capsys.readouterr()
        return rc, out.out, out.err

    rc, out, _ = run("build", "--all", "--check")
    assert rc == 1 and "lab9: missing" in out and "not built from labs/authoring/" in out
    assert run("build", "lab9")[0] == 0
    assert (tmp_path / "source" / "lab9" / "lab9.ipynb").is_file()
    assert run("build", "--all", "--check")[:2] == (0, "lab9: unchanged\n")
    rc, _, err = run("build", "nolab")
    assert rc == 2 and "no authoring file" in err
    rc, _, err = run("build")
    assert rc == 2 and "give LAB ... or --all" in err
    (tmp_path / "authoring" / "lab9.py").write_text(GOOD.replace(' points=2', ''))
    rc, _, err = run("build", "lab9")
    assert rc == 2 and "has no points" in err and "lab9.py:" in err


def test_nbgrader_releases_answer_and_rubric_cells(tmp_path):
    """nbgrader accepts what the builder writes for answer and rubric cells: the student's copy
    shows "YOUR ANSWER HERE" and no rubric cell; hidden tests are gone too."""
    from autograder.course.root import Course

    shutil.copy(COURSE / "nbgrader_config.py", tmp_path)
    (tmp_path / "authoring").mkdir()
    (tmp_path / "authoring" / "lab9.py").write_text(GOOD)
    build(tmp_path, ["lab9"])
    release = Course(tmp_path).generate_assignment("lab9")
    cells = {c.metadata["nbgrader"]["grade_id"]: c for c in nbformat.read(release, as_version=4).cells
             if "nbgrader" in c.metadata}
    assert cells["q_why"].source == "YOUR ANSWER HERE" and cells["q_why"].metadata["nbgrader"]["points"] == 1.5
    assert "q_why_rubric" not in cells  # no empty locked cell that looks like a second answer box
    assert "names the circle's area formula" not in release.read_text()
    assert all(c.metadata["tags"] == ["raises-exception"] for c in cells.values() if c.cell_type == "code")  # Run All goes on
    assert "BEGIN HIDDEN TESTS" not in cells["test_area"].source and "4 * math.pi" not in cells["test_area"].source
    assert "raise NotImplementedError()" in cells["area"].source
