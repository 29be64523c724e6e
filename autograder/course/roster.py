"""A class roster: who the instructor and the students are, read from a CSV (ours, or the one an
LMS exports), checked whole before anything is made from it.

Three layouts, told apart by their header (``read_roster(path, fmt="auto")``):

* ``plain`` (ours): ``username,role,first_name,last_name,email`` (``role`` is ``instructor``
  or ``student``, default ``student``; only ``username`` is required);
* ``canvas``: Canvas's gradebook export, ``Student,ID,SIS User ID,SIS Login ID,Section,...``
  (the student is ``Last, First``; the ``Points Possible`` row and Canvas's test student are
  skipped; the id is the SIS Login ID, the local part of it when it is an e-mail address; the
  Canvas ``ID`` is kept as the student's LMS user id, so the grade export matches it);
* ``moodle``: Moodle's user upload/download file, ``username,firstname,lastname,email[,idnumber]``
  (``idnumber`` kept as the LMS user id).

An id becomes a Linux account and an nbgrader student id, so it must be both: 1 to 32
characters, a lowercase ASCII letter first, then lowercase letters, digits, ``_`` or ``-``.
Every problem (an invalid id, a duplicate, a missing column, a bad role) is reported with its
row, all at once, and nothing is made from a roster that has one.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from autograder.course.root import CourseError

ID_RULE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
ID_RULE_TEXT = ("1 to 32 characters: a lowercase ASCII letter, then lowercase letters, digits, '_' or '-' "
                "(an id is a Linux account name and an nbgrader student id)")
FORMATS = ("auto", "plain", "canvas", "moodle")
ROLES = ("instructor", "student")
CANVAS_FIXED = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_FIXED = ["username", "firstname", "lastname", "email"]
PLAIN_FIXED = ["username", "role", "first_name", "last_name", "email"]
MAX_BYTES = 4 << 20


class RosterError(CourseError):
    """A roster that cannot be used: every problem, one per line, each with its row."""

    def __init__(self, path: str | Path, problems: list[str]):
        self.problems = problems
        super().__init__(f"roster {path}: {len(problems)} problem{'s' * (len(problems) != 1)}, nothing was "
                         "changed:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class Person:
    username: str
    role: str = "student"
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    lms_user_id: str = ""
    row: int = 0  # the CSV line it came from (1 is the header)

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "row"}


def detect(header: list[str]) -> str:
    """The layout a header belongs to: canvas, moodle or plain (CourseError when none)."""
    names = {h.strip().lower() for h in header}
    if "sis login id" in names:
        return "canvas"
    if "username" in names and ("firstname" in names or "lastname" in names):
        return "moodle"
    if "username" in names:
        return "plain"
    raise CourseError(f"cannot tell the roster's layout from its header {header!r}: a plain roster has "
                      f"{','.join(PLAIN_FIXED)}; Canvas's gradebook export has {','.join(CANVAS_FIXED)}; Moodle's "
                      f"user file has {','.join(MOODLE_FIXED)}")


def read_roster(path: str | Path, fmt: str = "auto", instructor: str | None = None) -> list[Person]:
    """Every person of the roster at ``path`` (instructors first, then students, each in file
    order), or RosterError listing every problem. ``instructor`` adds (or names) the instructor
    when the file has none (an LMS roster lists students only)."""
    if fmt not in FORMATS:
        raise CourseError(f"--format must be one of {', '.join(FORMATS)}: got {fmt!r}")
    path = Path(path)
    if not path.is_file():
        raise CourseError(f"no roster at {str(path)!r}: give a CSV file ({', '.join(PLAIN_FIXED)}; or Canvas's "
                          "gradebook export; or Moodle's user file)")
    blob = path.read_bytes()
    if len(blob) > MAX_BYTES:
        raise CourseError(f"roster {path} is {len(blob) >> 20} MiB, over the cap of {MAX_BYTES >> 20} MiB")
    try:
        text = blob.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CourseError(f"roster {path} is not UTF-8 text ({exc}): export it as UTF-8 CSV") from None
    rows = list(csv.reader(io.StringIO(text)))
    while rows and not any(c.strip() for c in rows[0]):
        rows.pop(0)
    if not rows:
        raise CourseError(f"roster {path} is empty: it needs a header and a row per person")
    header = [h.strip() for h in rows[0]]
    layout = detect(header) if fmt == "auto" else fmt
    people, problems = _parse(layout, header, rows[1:])
    if instructor is not None:
        if not ID_RULE.match(instructor):
            problems.append(f"--instructor {instructor!r}: not a valid id: {ID_RULE_TEXT}")
        elif not any(p.username == instructor for p in people):
            people.insert(0, Person(instructor, "instructor"))
        else:
            people = [Person(**{**p.as_dict(), "role": "instructor"}, row=p.row) if p.username == instructor else p
                      for p in people]
    problems += _duplicates(people)
    if not any(p.role == "instructor" for p in people):
        problems.append("no instructor: give a row with role 'instructor' (plain roster) or --instructor NAME")
    if not any(p.role == "student" for p in people):
        problems.append("no student: a class needs at least one")
    if problems:
        raise RosterError(path, problems)
    return [p for p in people if p.role == "instructor"] + [p for p in people if p.role == "student"]


def _parse(layout: str, header: list[str], rows: list[list[str]]) -> tuple[list[Person], list[str]]:
    lower = [h.lower() for h in header]
    need = {"plain": ["username"], "canvas": ["student", "id", "sis login id"], "moodle": ["username"]}[layout]
    missing = [n for n in need if n not in lower]
    if missing:
        return [], [f"line 1: the {layout} layout needs the column(s) {', '.join(missing)}; the header is {header!r}"]
    people, problems = [], []
    for n, raw in enumerate(rows, start=2):
        if not any(c.strip() for c in raw):
            continue
        rec = {lower[i]: (raw[i].strip() if i < len(raw) else "") for i in range(len(lower))}
        if layout == "canvas":
            person, why = _canvas(rec, n)
        elif layout == "moodle":
            person, why = (Person(rec["username"], "student", rec.get("firstname", ""), rec.get("lastname", ""),
                                  rec.get("email", ""), rec.get("idnumber", ""), n), None)
        else:
            role = (rec.get("role") or "student").lower()
            person, why = (Person(rec["username"], role, rec.get("first_name", ""), rec.get("last_name", ""),
                                  rec.get("email", ""), rec.get("lms_user_id", ""), n), None)
            if role not in ROLES:
                why = f"line {n}: role {rec.get('role')!r} is not one of {', '.join(ROLES)}"
        if person is None and why is None:
            continue  # a row the LMS adds that is nobody (Canvas's points row, its test student)
        if why is None and not ID_RULE.match(person.username):
            why = f"line {n}: invalid id {person.username!r}: {ID_RULE_TEXT}"
        if why:
            problems.append(why)
        else:
            people.append(person)
    return people, problems


def _canvas(rec: dict[str, str], n: int) -> tuple[Person | None, str | None]:
    name = rec.get("student", "")
    if name.lower() in ("points possible", "student, test", "test student") or not (name or rec.get("id")):
        return None, None
    login = rec.get("sis login id", "")
    if not login:
        return None, f"line {n}: {name or 'a student'} has no SIS Login ID (the class's account name comes from it)"
    username = login.split("@", 1)[0] if "@" in login else login
    last, _, first = name.partition(", ") if ", " in name else ("", "", name)
    return Person(username, "student", first.strip(), last.strip(), login if "@" in login else "",
                  rec.get("id", ""), n), None


def _duplicates(people: list[Person]) -> list[str]:
    seen: dict[str, Person] = {}
    out = []
    for p in people:
        if p.username in seen:
            out.append(f"line {p.row}: duplicate id {p.username!r} (also on line {seen[p.username].row}): each "
                       "person once")
        else:
            seen[p.username] = p
    return out


def check_people(people: list[Person]) -> list[Person]:
    """``people`` if it is a class (what ``read_roster`` returns), else CourseError saying what is
    wrong: the functions that make accounts, folders or gradebook rows from it check it first."""
    if not isinstance(people, (list, tuple)) or not all(isinstance(p, Person) for p in people):
        raise CourseError(f"a class is a list of roster.Person (read_roster gives one): got {people!r:.200}")
    problems = [f"invalid id {p.username!r}: {ID_RULE_TEXT}" for p in people
                if not isinstance(p.username, str) or not ID_RULE.match(p.username)]
    problems += [f"{p.username!r}: role {p.role!r} is not one of {', '.join(ROLES)}" for p in people
                 if p.role not in ROLES]
    problems += [f"duplicate id {n!r}" for n in sorted({p.username for p in people
                                                         if [q.username for q in people].count(p.username) > 1})]
    if not any(p.role == "instructor" for p in people):
        problems.append("no instructor")
    if not any(p.role == "student" for p in people):
        problems.append("no student")
    if problems:
        raise CourseError("not a class: " + "; ".join(problems))
    return list(people)


def write_plain(people: list[Person], path: str | Path) -> None:
    """The roster in our own layout (what ``class start`` keeps in the class folder)."""
    check_people(people)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(PLAIN_FIXED + ["lms_user_id"])
        for p in people:
            w.writerow([p.username, p.role, p.first_name, p.last_name, p.email, p.lms_user_id])


def add_to_gradebook(db_url: str, people: list[Person]) -> int:
    """Every student of the roster in the course's gradebook (names, e-mail, LMS user id);
    returns how many."""
    import os
    import sys

    from nbgrader.api import Gradebook

    bindir = os.path.dirname(sys.executable)  # nbgrader makes a new gradebook with `alembic`, beside this Python
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    check_people(people)
    if not isinstance(db_url, str) or not db_url.startswith("sqlite:///"):
        raise CourseError(f"the gradebook must be a sqlite:/// URL: got {db_url!r}")
    students = [p for p in people if p.role == "student"]
    with Gradebook(db_url) as gb:
        for p in students:
            fields = {k: v for k, v in (("first_name", p.first_name), ("last_name", p.last_name),
                                        ("email", p.email), ("lms_user_id", p.lms_user_id)) if v}
            gb.update_or_create_student(p.username, **fields)
    return len(students)
