"""A class's roster and its LMS round trip (issue #26): ours, Canvas's gradebook export and
Moodle's user file read into the same people; every bad roster refused whole with each problem
and its line; the grades exported back in the columns Canvas and Moodle import, for the students
the roster named (names, Canvas ids)."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.cli import main
from autograder.course.report import lms_rows
from autograder.course.root import Course, CourseError
from autograder.course.roster import (ID_RULE, Person, RosterError, add_to_gradebook, check_people, read_roster,
                                      write_plain)

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab0-costs"

# Canvas's gradebook export (Grades > Export): a "Points Possible" row under the header, the
# course's "Test Student", "Last, First" names, the SIS Login ID (here an e-mail and a plain login)
CANVAS = """Student,ID,SIS User ID,SIS Login ID,Integration ID,Section,Lab 0 (101),Current Score
    Points Possible,,,,,,13.00,(read only)
"Archer, Alice",2001,S-1,alice@uni.example.edu,,Section A,,
"Baker, Bob",2002,S-2,bob,,Section A,5.00,
"Student, Test",2099,,,,Section A,,
"""
# Moodle's user upload / download file (Site administration > Users > Upload users)
MOODLE = """username,firstname,lastname,email,idnumber
alice,Alice,Archer,alice@uni.example.edu,M-1
bob,Bob,Baker,bob@uni.example.edu,M-2
"""
PLAIN = (ROOT / "docs" / "class" / "roster.example.csv").read_text()


def write(tmp_path: Path, text: str, name: str = "roster.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_example_roster_reads_as_one_instructor_and_three_students(tmp_path):
    people = read_roster(ROOT / "docs" / "class" / "roster.example.csv")
    assert [(p.username, p.role) for p in people] == [("instructor", "instructor"), ("alice", "student"),
                                                      ("bob", "student"), ("carol", "student")]
    assert people[1].first_name == "Alice" and people[1].email == "alice@example.edu"


def test_canvas_gradebook_export_is_read_by_its_documented_columns(tmp_path):
    people = read_roster(write(tmp_path, CANVAS), instructor="prof")
    assert [p.as_dict() for p in people] == [
        Person("prof", "instructor").as_dict(),
        Person("alice", "student", "Alice", "Archer", "alice@uni.example.edu", "2001").as_dict(),
        Person("bob", "student", "Bob", "Baker", "", "2002").as_dict()]  # points row and test student skipped


def test_moodle_user_file_is_read_by_its_documented_columns(tmp_path):
    people = read_roster(write(tmp_path, MOODLE), "auto", "prof")
    assert [(p.username, p.first_name, p.last_name, p.email, p.lms_user_id) for p in people[1:]] == [
        ("alice", "Alice", "Archer", "alice@uni.example.edu", "M-1"), ("bob", "Bob", "Baker", "bob@uni.example.edu", "M-2")]
    assert read_roster(write(tmp_path, MOODLE), "moodle", "prof") == people


@pytest.mark.parametrize("text,fmt,instructor,expected", [
    ("username,role\nprof,instructor\nalice,student\nalice,student\n", "auto", None,
     ["line 4: duplicate id 'alice' (also on line 3)"]),
    ("username,role\nprof,instructor\nAlice,student\n1bob,student\nroot;rm,student\n" + "x" * 33 + ",student\n",
     "auto", None, ["line 3: invalid id 'Alice'", "line 4: invalid id '1bob'", "line 5: invalid id 'root;rm'",
                    "line 6: invalid id 'xxx", "no student"]),
    ("username,role\nprof,teacher\nalice,student\n", "auto", None, ["line 2: role 'teacher' is not one of",
                                                                      "no instructor"]),
    ("username,role\nalice,student\n", "auto", None, ["no instructor: give a row with role 'instructor'"]),
    ("username,role\nprof,instructor\n", "auto", None, ["no student: a class needs at least one"]),
    (MOODLE, "auto", "Prof", ["--instructor 'Prof': not a valid id", "no instructor"]),
    (CANVAS.replace("alice@uni.example.edu", ""), "auto", "prof", ["line 3: Archer, Alice has no SIS Login ID"]),
    ("Student,ID\nx,1\n", "canvas", "prof", ["line 1: the canvas layout needs the column(s) sis login id",
                                            "no student"]),
])
def test_a_bad_roster_is_refused_whole_with_each_problem_and_its_line(tmp_path, text, fmt, instructor, expected):
    with pytest.raises(RosterError) as err:
        read_roster(write(tmp_path, text), fmt, instructor)
    message = str(err.value)
    assert "nothing was changed" in message
    assert len(err.value.problems) == len(expected), err.value.problems
    for want, got in zip(expected, err.value.problems):
        assert got.startswith(want), (want, got)


@pytest.mark.parametrize("make,fmt,why", [
    (lambda p: p / "none.csv", "auto", "no roster at"),
    (lambda p: write(p, ""), "auto", "is empty"),
    (lambda p: write(p, "name,mail\nx,y\n"), "auto", "cannot tell the roster's layout"),
    (lambda p: (p / "bin.csv").write_bytes(b"username\n\xff\xfe\n") and p / "bin.csv", "auto", "is not UTF-8"),
    (lambda p: write(p, PLAIN), "excel", "--format must be one of"),
])
def test_what_is_not_a_roster_says_so(tmp_path, make, fmt, why):
    with pytest.raises(CourseError, match=why):
        read_roster(make(tmp_path), fmt)


def test_the_cli_checks_a_roster_and_exits_2_on_a_bad_one(tmp_path, capsys):
    assert main(["roster", str(ROOT / "docs" / "class" / "roster.example.csv")]) == 0
    assert "3 students, 1 instructor(s): the roster is fine" in capsys.readouterr().out
    bad = write(tmp_path, "username,role\nprof,instructor\nbob,student\nbob,student\n")
    with pytest.raises(SystemExit) as exit_:
        main(["roster", str(bad)])
    assert exit_.value.code == 2
    assert "duplicate id 'bob'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["--course", "labs", "roster", str(bad)])
    assert exit_.value.code == 2 and "takes no --course" in capsys.readouterr().err


def test_the_class_functions_refuse_what_is_not_a_class(tmp_path):
    from autograder.course import hub
    from autograder.course.classroom import ClassFolder, role_config_path, setup
    from autograder.course.exchange import class_layout

    ok = [Person("prof", "instructor"), Person("ann")]
    cases = [
        (lambda: check_people("prof,ann"), "a class is a list of roster.Person"),
        (lambda: check_people([Person("prof", "instructor")]), "not a class: no student"),
        (lambda: check_people(ok + [Person("Ann"), Person("bob", "boss"), Person("ann")]),
         "invalid id 'Ann'.*role 'boss'.*duplicate id 'ann'"),
        (lambda: write_plain([Person("ann")], tmp_path / "r.csv"), "no instructor"),
        (lambda: add_to_gradebook("postgres://x", ok), "must be a sqlite:/// URL"),
        (lambda: setup(ClassFolder.at(tmp_path), ok[:1]), "no student"),
        (lambda: setup(str(tmp_path), ok), "needs a ClassFolder"),
        (lambda: ClassFolder.at(""), "a class folder is a path"),
        (lambda: role_config_path(ClassFolder.at(tmp_path), "ta"), "a role is one of instructor, student"),
        (lambda: class_layout(str(tmp_path), "mlsys", "no-such-user-x", "mlsys-graders", []),
         "no user no-such-user-x on this machine"),
        (lambda: class_layout("relative", "mlsys", "root", "root", []), "give an absolute folder"),
        (lambda: hub.run(ClassFolder.at(tmp_path), 70000, {}), "a TCP port, 1 to 65535"),
    ]
    for call, why in cases:
        with pytest.raises(CourseError, match=why):
            call()
    assert not (tmp_path / "r.csv").exists() and not (tmp_path / "hub").exists()  # refused before anything


ids = st.from_regex(ID_RULE, fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(ids, min_size=2, max_size=8, unique=True), st.text(alphabet="abc ,\"'é-", max_size=8))
def test_every_valid_roster_round_trips_through_our_layout(tmp_path_factory, names, first):
    people = [Person(names[0], "instructor")] + [Person(n, "student", first.strip(), "Ü", "") for n in names[1:]]
    path = tmp_path_factory.mktemp("rt") / "roster.csv"
    write_plain(people, path)
    assert [p.as_dict() for p in read_roster(path, "plain")] == [p.as_dict() for p in people]


@settings(max_examples=80, deadline=None)
@given(st.text(min_size=1, max_size=40).filter(lambda s: s.strip() == s and "\n" not in s and "\r" not in s
                                                and "," not in s and '"' not in s))
def test_an_id_is_taken_only_when_it_is_a_linux_account_name_and_a_student_id(tmp_path_factory, name):
    path = tmp_path_factory.mktemp("id") / "roster.csv"
    path.write_text(f"username,role\nprof,instructor\n{name},student\n", encoding="utf-8")
    if ID_RULE.match(name) and name != "prof":
        assert read_roster(path)[1].username == name
    else:
        with pytest.raises(CourseError):
            read_roster(path)


# ---- the grades back to the LMS ----------------------------------------------------------------
@pytest.fixture(scope="module")
def graded_course(tmp_path_factory) -> Course:
    """A course whose gradebook has the Canvas roster's students and lab 0 with one graded cell:
    alice 2 of 2, bob no submission."""
    from nbgrader.api import Gradebook

    root = tmp_path_factory.mktemp("lms") / "course"
    (root / "source" / LAB).mkdir(parents=True)
    shutil.copy(ROOT / "labs" / "nbgrader_config.py", root)
    shutil.copy(ROOT / "labs" / "source" / LAB / f"{LAB}.ipynb", root / "source" / LAB)
    roster = tmp_path_factory.mktemp("lmsroster") / "canvas.csv"
    roster.write_text(CANVAS)
    course = Course(root)
    add_to_gradebook(course.db_url, read_roster(roster, instructor="prof"))
    with Gradebook(course.db_url) as gb:
        gb.update_or_create_assignment(LAB)
        gb.add_notebook(LAB, LAB)
        gb.add_grade_cell("test_kv_bytes", LAB, LAB, max_score=2, cell_type="code")
        gb.add_submission(LAB, "alice")
        grade = gb.find_grade("test_kv_bytes", LAB, LAB, "alice")
        grade.auto_score = 2.0
        gb.db.commit()
    return course


def exported(course: Course, fmt: str, tmp_path: Path) -> list[list[str]]:
    out = tmp_path / f"{fmt}.csv"
    assert main(["export", "--to", str(out), "--format", fmt, "--course", str(course.root)]) == 0
    return list(csv.reader(io.StringIO(out.read_text())))


def test_canvas_export_has_canvas_import_columns_and_the_roster_ids(graded_course, tmp_path):
    table = exported(graded_course, "canvas", tmp_path)
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Notes", LAB]
    rows = {r[3]: r for r in table[1:]}
    assert rows["alice"][:2] == ["Alice Archer", "2001"] and float(rows["alice"][-1]) == 2.0
    assert rows["bob"][:2] == ["Bob Baker", "2002"] and float(rows["bob"][-1]) == 0.0
    header, data = lms_rows(graded_course, "canvas")
    assert len(data) == 2 and header[-1] == LAB


def test_moodle_export_has_the_username_column_moodle_maps_on(graded_course, tmp_path):
    table = exported(graded_course, "moodle", tmp_path)
    assert table[0] == ["Username", "Notes", LAB]
    assert {r[0]: float(r[-1]) for r in table[1:]} == {"alice": 2.0, "bob": 0.0}
    # the usernames are the roster's: a Moodle roster read back gives the same ids
    assert {r[0] for r in table[1:]} == {p.username for p in read_roster(write(tmp_path, MOODLE), instructor="prof")
                                         if p.role == "student"}
