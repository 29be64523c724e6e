"""Collect: every entry of a folder or zip becomes exactly one submission or is rejected with its
reason; who a file belongs to follows the rules in docs/grading.md ("Collect: who a file belongs
to"), checked here case by case and against a second, independent reading of the rules. Also
the CLI's ``--course`` before or after the command."""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from pathlib import Path, PurePosixPath

import nbformat
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograder.cli import main
from autograder.course.collect import Entry, judge_entries
from autograder.course.root import Course

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab0-costs"


def nb_text(tag: str) -> str:
    """A small valid notebook whose one cell says whose it is."""
    return nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"owner = {tag!r}")]))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A course root with lab 0's source and an empty gradebook (made once: nbgrader's migrations are slow)."""
    from nbgrader.api import Gradebook

    root = tmp_path_factory.mktemp("pristine") / "course"
    (root / "source" / LAB).mkdir(parents=True)
    shutil.copy(ROOT / "labs" / "nbgrader_config.py", root)
    shutil.copy(ROOT / "labs" / "source" / LAB / f"{LAB}.ipynb", root / "source" / LAB)
    with Gradebook(Course(root).db_url):
        pass
    return root


@pytest.fixture
def course(pristine, tmp_path) -> Path:
    root = tmp_path / "course"
    shutil.copytree(pristine, root)
    return root


def run(*argv: str) -> tuple[int, str, str]:
    import contextlib

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def collect(course: Path, source: Path):
    from autograder.course.collect import collect as do

    return do(Course(course), LAB, source)


def owner_of(course: Path, student: str) -> str:
    nb = nbformat.read(course / "submitted" / student / LAB / f"{LAB}.ipynb", as_version=4)
    return nb.cells[0].source


def test_zip_identity_folder_owns_its_files(course, tmp_path):
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("alice/bob_1_1_lab0-costs.ipynb", nb_text("alice's stub"))
        zf.writestr("bob/lab0-costs.ipynb", nb_text("bob's work"))
        zf.writestr("doejane_LATE_12345_67890_lab0-costs.ipynb", nb_text("jane"))
    res = collect(course, z)
    assert res["collected"] == ["alice", "bob", "doejane"] and res["rejected"] == []
    assert owner_of(course, "alice") == "owner = \"alice's stub\""
    assert owner_of(course, "bob") == "owner = \"bob's work\""
    assert res["notes"] == {"alice": ["its file name names 'bob', but it is in 'alice''s folder: the folder decides"]}
    from nbgrader.api import Gradebook

    with Gradebook(Course(course).db_url) as gb:
        assert gb.find_student("doejane").lms_user_id == "12345"
        assert gb.find_student("alice").lms_user_id is None
    log = json.loads((course / "grading" / f"{LAB}.json").read_text())
    assert log["students"]["alice"]["collect_notes"] == res["notes"]["alice"]


def test_zip_rejects_every_unsafe_entry_with_its_reason(course, tmp_path):
    z = tmp_path / "hostile.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("../evil.ipynb", nb_text("evil"))
        zf.writestr("/abs/evil2.ipynb", nb_text("evil"))
        zf.writestr("__MACOSX/carol/._lab0-costs.ipynb", "x")
        zf.writestr("carol/lab0-costs.ipynb", nb_text("carol"))
        zf.writestr("carol/.ipynb_checkpoints/lab0-costs-checkpoint.ipynb", nb_text("old carol"))
        zf.writestr("dave/a.ipynb", nb_text("dave a"))
        zf.writestr("dave/b.ipynb", nb_text("dave b"))
        zf.writestr("notes.txt", "not a notebook")
        zf.writestr("doejane_\u0661\u0662_3_lab0-costs.ipynb", nb_text("arabic digits"))
        zf.writestr("bad folder/x.ipynb", nb_text("?"))
        zf.writestr("erin.ipynb", nb_text("erin 1"))
        zf.writestr("erin_lab0-costs.ipynb", nb_text("erin 2"))
        link = zipfile.ZipInfo("frank/lab0-costs.ipynb")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
    res = collect(course, z)
    assert res["collected"] == ["carol"]
    ambiguous_dave = ("ambiguous: 2 candidate files for student 'dave' (dave/a.ipynb, dave/b.ipynb); none was taken: "
                      "collect the right one alone")
    ambiguous_erin = ("ambiguous: 2 candidate files for student 'erin' (erin.ipynb, erin_lab0-costs.ipynb); none was "
                      "taken: collect the right one alone")
    assert {r["file"]: r["reason"] for r in res["rejected"]} == {
        "../evil.ipynb": "path traversal ('..')",
        "/abs/evil2.ipynb": "absolute path",
        "__MACOSX/carol/._lab0-costs.ipynb": "__MACOSX metadata (macOS resource fork), not a submission",
        "carol/.ipynb_checkpoints/lab0-costs-checkpoint.ipynb":
            "a Jupyter checkpoint copy (.ipynb_checkpoints), not the submission",
        "dave/a.ipynb": ambiguous_dave, "dave/b.ipynb": ambiguous_dave,
        "notes.txt": "not a notebook (.ipynb)",
        "doejane_\u0661\u0662_3_lab0-costs.ipynb":
            "cannot tell whose it is: name a top-level file <student>.ipynb, <student>_<lab>.ipynb or Canvas's "
            "<name>_<user id>_<submission id>_<file>.ipynb, or put it in a folder named after the student",
        "bad folder/x.ipynb": "folder 'bad folder' is not a student id (ASCII letters, digits, '.', '_', '-'; "
                              "starting with a letter or digit)",
        "erin.ipynb": ambiguous_erin, "erin_lab0-costs.ipynb": ambiguous_erin,
        "frank/lab0-costs.ipynb": "a symbolic link, not a file (links are never followed)",
    }
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["carol"]
    assert not (course / "evil.ipynb").exists() and not (tmp_path / "evil.ipynb").exists()
    assert owner_of(course, "carol") == "owner = 'carol'"
    log = json.loads((course / "grading" / f"{LAB}.json").read_text())
    assert len(log["rejected_files"]) == 12
    collect(course, z)  # collecting the same zip again lists each rejection once
    assert len(json.loads((course / "grading" / f"{LAB}.json").read_text())["rejected_files"]) == 12


def test_folder_source_links_and_sizes(course, tmp_path):
    src = tmp_path / "inbox"
    (src / "gina").mkdir(parents=True)
    (src / "gina" / "work.ipynb").write_text(nb_text("gina"))
    (src / "hank.ipynb").write_text(nb_text("hank"))
    (src / "huge.ipynb").write_bytes(b" " * (21 * 2**20))
    os.symlink("/etc/passwd", src / "ivy.ipynb")
    res = collect(course, src)
    assert res["collected"] == ["gina", "hank"]
    assert {r["file"]: r["reason"] for r in res["rejected"]} == {
        "huge.ipynb": "too large: 21.0 MiB, over the cap of 20 MiB per notebook",
        "ivy.ipynb": "a symbolic link, not a file (links are never followed)"}


def test_zip_bomb_is_refused_before_anything_is_extracted(course, tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("alice/lab0-costs.ipynb", "w", force_zip64=True) as f:
            block = bytes(64 << 20)
            for _ in range(16):  # 1 GiB of zeros
                f.write(block)
    assert bomb.stat().st_size < 8 << 20  # a few MiB on disk
    code, out, err = run("--course", str(course), "collect", LAB, str(bomb))
    assert code == 2, out + err
    assert err == ("mlsys-grade collect: error: the zip expands to 1024.0 MiB, over the cap of 512 MiB: nothing was "
                   "extracted (a zip bomb, or an export with more than notebooks in it)\n")
    assert not (course / "submitted").exists()

    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as zf:
        for i in range(10_001):
            zf.writestr(f"s{i}.ipynb", "")
    code, out, err = run("collect", LAB, str(many), "--course", str(course))
    assert code == 2 and "the zip has 10001 members, over the cap of 10000: nothing was extracted" in err
    assert not (course / "submitted").exists()


# ---- the rules, read a second time: an independent owner() to compare with ---------------------
def second_reading(name: str) -> str | None:
    """Whose a path is, written from the docs' rules without looking at collect.py."""
    import re

    parts = name.split("/")
    if name.startswith("/") or ".." in parts or "__MACOSX" in parts or parts[-1].startswith("._") \
            or ".ipynb_checkpoints" in parts or not name.endswith(".ipynb"):
        return None
    while len(parts) > 1 and parts[0] in (LAB, "submissions", "submitted"):
        parts = parts[1:]
    ok = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", re.ASCII)
    if len(parts) > 1:
        return parts[0] if ok.fullmatch(parts[0]) else None
    stem = parts[0][: -len(".ipynb")]
    m = re.fullmatch(r"([A-Za-z0-9]+)_(LATE_)?([0-9]+)_([0-9]+)_(.+)", stem, re.ASCII)
    if m:
        return m.group(1)
    for suffix in ("_" + LAB, "-" + LAB):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return stem if ok.fullmatch(stem) and stem not in (LAB, "submissions", "submitted") else None


COMPONENTS = ["alice", "bob", LAB, "submissions", "..", "__MACOSX", ".ipynb_checkpoints", "x y", "\u0661"]
FILES = ["alice.ipynb", "bob_lab0-costs.ipynb", "bob_7_8_lab0-costs.ipynb", "carol_LATE_1_2_x.ipynb", "._a.ipynb",
         "lab0-costs.ipynb", "notes.txt", "\u0661_1_2_x.ipynb", "dave-lab0-costs.ipynb"]


PATHS = st.builds(lambda folders, f: "/".join(folders + [f]), st.lists(st.sampled_from(COMPONENTS), max_size=3),
                  st.sampled_from(FILES))


@given(st.lists(PATHS, min_size=1, max_size=8, unique=True))
def test_every_entry_has_one_fate_and_the_rules_agree(names):
    entries = judge_entries([Entry(n, 100) for n in names], LAB, 2**20)
    claimed: dict[str, list[str]] = {}
    for n in names:
        s = second_reading(n)
        if s:
            claimed.setdefault(s, []).append(n)
    for e in entries:
        assert (e.student is None) != (e.reason is None), e  # exactly one fate
        expect = second_reading(e.name)
        if expect and len(claimed[expect]) == 1:
            assert e.student == expect, e
        else:
            assert e.student is None and e.reason, e
        parts = list(PurePosixPath(e.name).parts)
        while len(parts) > 1 and parts[0] in (LAB, "submissions", "submitted"):
            parts = parts[1:]
        if e.student and len(parts) > 1:  # a file in a student's folder is that student's, whatever its name says
            assert e.student == parts[0]
    taken = [e.student for e in entries if e.student]
    assert len(taken) == len(set(taken))  # never two submissions for one student


# ---- the CLI: --course before or after the command ---------------------------------------------
def test_course_option_before_or_after_the_command(course, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "alice.ipynb").write_text(nb_text("alice"))
    assert run("--course", str(course), "collect", LAB, str(src))[:2] == (
        0, "collected 1 submissions of lab0-costs: alice\n")
    assert run("collect", LAB, str(src), "--course", str(course))[:2] == (
        0, "collected 1 submissions of lab0-costs: alice\n")
    for argv in (["--course", str(course), "summary", "nolab"], ["summary", "nolab", "--course", str(course)]):
        code, _, err = run(*argv)
        assert (code, err) == (2, f"mlsys-grade summary: error: no lab 'nolab' in {course / 'source'}: labs are "
                                  "lab0-costs\n")
    code, _, err = run("--course", str(course), "summary", LAB, "--course", str(tmp_path))
    assert (code, err) == (2, f"mlsys-grade summary: error: --course given twice with different folders "
                              f"({str(course)!r} before the command, {str(tmp_path)!r} after it): give it once\n")
    code, _, err = run("--course", str(tmp_path / "nowhere"), "summary", LAB)
    assert code == 2 and "is not an nbgrader course root: it has no nbgrader_config.py" in err
    code, _, err = run("--course")
    assert code == 2 and "argument --course: expected one argument" in err


# ---- nothing lost: bloated notebooks, and a row in the export for every rejected entry -------------------
def test_a_notebook_over_the_cap_by_its_outputs_and_metadata_is_collected_cleared(course, tmp_path):
    bloat = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1", outputs=[nbformat.v4.new_output("stream", name="stdout",
                                                                           text="y" * 900_000)]),
        nbformat.v4.new_markdown_cell("my answer")])
    bloat.cells[0].metadata.update(junk="z" * 900_000, nbgrader={"grade_id": "param_count", "solution": True,
                                                                "grade": False, "locked": False, "schema_version": 3,
                                                                "padding": "p" * 100_000})
    bloat.metadata["widgets"] = {"state": "w" * 900_000}
    code = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("# " + "c" * (2 << 20))])
    src = tmp_path / "in"
    (src / "bloat").mkdir(parents=True)
    nbformat.write(bloat, src / "bloat" / "lab0-costs.ipynb")
    nbformat.write(code, src / "gus.ipynb")
    from autograder.course.collect import collect as do

    res = do(Course(course), LAB, src, max_file_mb=1)
    assert res["collected"] == ["bloat"]
    note, = res["notes"]["bloat"]
    assert note.startswith("the notebook was 2.7 MiB, over the cap of 1 MiB per notebook, because of its outputs and "
                           "metadata: they were cleared before grading (") and note.endswith(
        " KiB left; its code and text are as submitted)")
    got = nbformat.read(course / "submitted" / "bloat" / LAB / f"{LAB}.ipynb", as_version=4)
    assert got.metadata == {} and got.cells[0].outputs == [] and got.cells[1].source == "my answer"
    assert got.cells[0].metadata == {"nbgrader": {"grade_id": "param_count", "solution": True, "grade": False,
                                                  "locked": False, "schema_version": 3}}
    assert res["rejected"] == [{"file": "gus.ipynb", "student": "gus", "reason":
                                "too large: 2.0 MiB, over the cap of 1 MiB per notebook; its code and text alone "
                                "(outputs and metadata cleared) are 2.0 MiB"}]
    log = json.loads((course / "grading" / f"{LAB}.json").read_text())
    assert log["students"]["bloat"]["collect_notes"] == [note]


def test_every_rejected_entry_has_a_row_in_every_export(course, tmp_path):
    import csv

    from autograder.course.report import export

    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("carol/lab0-costs.ipynb", nb_text("carol"))
        zf.writestr("dave/a.ipynb", nb_text("dave a"))
        zf.writestr("dave/b.ipynb", nb_text("dave b"))
        zf.writestr("notes.txt", "not a notebook")
        zf.writestr("__MACOSX/._junk", "x")
        link = zipfile.ZipInfo("frank/lab0-costs.ipynb")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
    res = collect(course, z)
    assert {r["file"]: r["student"] for r in res["rejected"]} == {
        "dave/a.ipynb": "dave", "dave/b.ipynb": "dave", "notes.txt": None, "__MACOSX/._junk": None,
        "frank/lab0-costs.ipynb": "frank"}
    c = Course(course)
    export(c, tmp_path / "plain.csv")
    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "plain.csv"))}
    assert {s: (r["status"], r["file"]) for s, r in rows.items()} == {
        "carol": ("collected", "carol/lab0-costs.ipynb"), "dave": ("rejected", "dave/a.ipynb | dave/b.ipynb"),
        "frank": ("rejected", "frank/lab0-costs.ipynb"), "notes.txt": ("rejected", "notes.txt"),
        "__MACOSX/._junk": ("rejected", "__MACOSX/._junk")}
    assert rows["frank"]["reason"] == "a symbolic link, not a file (links are never followed)"
    for fmt, key in (("canvas", "SIS Login ID"), ("gradescope", "SID"), ("moodle", "Username")):
        export(c, tmp_path / f"{fmt}.csv", fmt=fmt)
        lms = {r[key]: r for r in csv.DictReader(open(tmp_path / f"{fmt}.csv"))}
        assert set(lms) == {"carol", "dave", "frank"}, fmt
        assert lms["frank"]["Notes"] == ("lab0-costs: rejected at collect (a symbolic link, not a file (links are "
                                         "never followed))") and lms["carol"]["Notes"] == ""

    # dave's right file collected alone: his earlier rejections are replaced, as his submission would be
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / "dave.ipynb").write_text(nb_text("dave"))
    collect(course, tmp_path / "again")
    export(c, tmp_path / "plain.csv")
    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "plain.csv"))}
    assert (rows["dave"]["status"], rows["dave"]["notes"]) == ("collected", "")
    assert rows["frank"]["status"] == "rejected"
