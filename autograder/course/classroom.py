"""A class on one machine, in one folder: the course (nbgrader's course root, the kit's judge as
its grader), the exchange between the accounts, each role's configuration and the hub's state.

    <class>/                   root 0755
        accounts.json          root 0600: the accounts and groups this class made, their passwords
        roster.csv             the roster as last given (our layout)
        course/                the instructor's, group graders, 2770: nbgrader_config.py (the kit's
                               labs/nbgrader_config.py on this folder), source/, release/, submitted/,
                               autograded/, feedback/, grading/, gradebook.db
        exchange/              autograder.course.exchange's layout (one private folder per student)
        config/student/        what a student's server reads: the course id and the exchange
        hub/                   root 0700: jupyterhub_config.py, its database, cookie secret, log, lock

``setup`` makes or repairs all of it, idempotently, from a roster; nothing of the course is ever
deleted by it (a lab already in ``course/source/`` is kept as the instructor left it).
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from autograder.course.accounts import GRADERS, STUDENTS, Accounts
from autograder.course.exchange import class_layout
from autograder.course.root import CourseError
from autograder.course.roster import ROLES, Person, add_to_gradebook, check_people, write_plain

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DIR = "/srv/mlsys-class"


def course_id(repo: Path = REPO) -> str:
    """The course id of the kit's course config (``c.CourseDirectory.course_id``)."""
    m = re.search(r"""CourseDirectory\.course_id\s*=\s*["']([^"']+)["']""",
                  (repo / "labs" / "nbgrader_config.py").read_text())
    return m.group(1) if m else "mlsys"


@dataclass(frozen=True)
class ClassFolder:
    root: Path

    @classmethod
    def at(cls, path: str | Path) -> ClassFolder:
        if not isinstance(path, (str, Path)) or not str(path).strip():
            raise CourseError(f"a class folder is a path: got {path!r}")
        p = Path(path)
        if not p.is_absolute():
            p = Path.cwd() / p
        return cls(Path(os.path.normpath(p)))

    course = property(lambda self: self.root / "course")
    exchange = property(lambda self: self.root / "exchange")
    config = property(lambda self: self.root / "config")
    hub = property(lambda self: self.root / "hub")
    accounts = property(lambda self: Accounts(self.root / "accounts.json"))
    roster = property(lambda self: self.root / "roster.csv")

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.course / 'gradebook.db'}"

    def people(self) -> list[Person]:
        from autograder.course.roster import read_roster

        if not self.roster.is_file():
            raise CourseError(f"{self.root} holds no class (no roster.csv): start one with `mlsys-grade class start "
                              "--roster FILE`")
        return read_roster(self.roster, "plain")


def check_reachable(path: Path) -> None:
    """Every folder above the class folder must let other accounts pass (o+x)."""
    for parent in list(path.parents)[::-1]:
        if parent.exists() and not parent.stat().st_mode & 0o001:
            raise CourseError(f"the class folder {path} is inside {parent}, which other accounts cannot enter (mode "
                              f"{parent.stat().st_mode & 0o777:o}): put the class elsewhere (default {DEFAULT_DIR})")


def setup(folder: ClassFolder, people: list[Person], repo: Path = REPO) -> dict[str, str]:
    """Make or repair the class for ``people``; returns {username: password}."""
    check_people(people)
    if not isinstance(folder, ClassFolder):
        raise CourseError(f"setup needs a ClassFolder (ClassFolder.at(path)): got {folder!r}")
    if os.geteuid() != 0:
        raise CourseError("a class makes Linux accounts and runs each person's server as that person: run it as root")
    check_reachable(folder.root)
    folder.root.mkdir(parents=True, exist_ok=True)
    _own(folder.root, 0, 0, 0o755)
    passwords = folder.accounts.ensure(people)
    write_plain(people, folder.roster)
    instructors = [p.username for p in people if p.role == "instructor"]
    students = [p.username for p in people if p.role == "student"]
    gid = grp.getgrnam(GRADERS).gr_gid
    owner = pwd.getpwnam(instructors[0]).pw_uid
    cid = course_id(repo)
    make_course(folder, repo, cid)
    add_to_gradebook(folder.db_url, people)
    _own_tree(folder.course, owner, gid)
    class_layout(str(folder.exchange), cid, instructors[0], GRADERS, students)
    write_configs(folder, repo, cid)
    folder.hub.mkdir(exist_ok=True)
    _own(folder.hub, 0, 0, 0o700)
    (repo / "labs" / "exchange").mkdir(exist_ok=True)  # the kit's config makes it when loaded; here, as root
    for s in students:  # no student reads another's home (Debian makes them 0755)
        os.chmod(pwd.getpwnam(s).pw_dir, 0o700)
    return passwords


def make_course(folder: ClassFolder, repo: Path, cid: str) -> None:
    course = folder.course
    (course / "source").mkdir(parents=True, exist_ok=True)
    for lab in sorted((repo / "labs" / "source").iterdir()):
        if (lab / f"{lab.name}.ipynb").is_file() and not (course / "source" / lab.name).exists():
            shutil.copytree(lab, course / "source" / lab.name, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (course / "nbgrader_config.py").write_text(COURSE_CONFIG.format(repo=repo, course=course, exchange=folder.exchange))


COURSE_CONFIG = '''\
# Made by `mlsys-grade class start` (autograder/course/classroom.py); made again at each start.
# The kit's course configuration ({repo}/labs/nbgrader_config.py: the sandbox and the judge as the
# grader, inert pages, the release's steps) on this class's folders and exchange.
c = get_config()  # noqa: F821
load_subconfig("{repo}/labs/nbgrader_config.py")  # noqa: F821

c.CourseDirectory.root = "{course}"
c.CourseDirectory.db_url = "sqlite:///{course}/gradebook.db"

from autograder.course.exchange import factory_config  # noqa: E402

factory_config(c, "{exchange}")
'''

STUDENT_CONFIG = '''\
# Made by `mlsys-grade class start`: what a student's server needs of the course (its id and the
# class's exchange: autograder/course/exchange.py, one private folder per student).
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "{cid}"

from autograder.course.exchange import factory_config  # noqa: E402

factory_config(c, "{exchange}")
'''


def write_configs(folder: ClassFolder, repo: Path, cid: str) -> None:
    student = folder.config / "student"
    student.mkdir(parents=True, exist_ok=True)
    (student / "nbgrader_config.py").write_text(STUDENT_CONFIG.format(cid=cid, exchange=folder.exchange))
    for p in (folder.config, student, student / "nbgrader_config.py"):
        _own(p, 0, 0, 0o755 if p.is_dir() else 0o644)


def role_config_path(folder: ClassFolder, role: str, repo: Path = REPO) -> str:
    """JUPYTER_CONFIG_PATH of a server of ``role``: the class's part, the kit's view of that role
    (labs/jupyter-config/<role>: which nbgrader extensions it shows), the kit's common part."""
    if role not in ROLES:
        raise CourseError(f"a role is one of {', '.join(ROLES)}: got {role!r}")
    first = folder.course if role == "instructor" else folder.config / "student"
    kit = repo / "labs" / "jupyter-config"
    return os.pathsep.join(map(str, (first, kit / role, kit)))


def _own(path: Path, uid: int, gid: int, mode: int) -> None:
    st = path.lstat()
    if (st.st_uid, st.st_gid) != (uid, gid):
        os.lchown(path, uid, gid)
    if st.st_mode & 0o7777 != mode:
        os.chmod(path, mode)


def _own_tree(top: Path, uid: int, gid: int) -> None:
    """The course: the instructor's, shared with the graders' group (folders 2770, files g+rw,
    nothing for other accounts); the course secret stays its owner's alone."""
    for dirpath, dirs, files in os.walk(top):
        d = Path(dirpath)
        _own(d, uid, gid, 0o2770)
        for name in files:
            f = d / name
            if f.is_symlink():
                continue
            mode = f.stat().st_mode & 0o777
            _own(f, uid, gid, 0o600 if (d.name == "grading" and name == "secret") else (mode | 0o660) & 0o770)


def student_names(folder: ClassFolder) -> list[str]:
    return [p.username for p in folder.people() if p.role == "student"]


__all__ = ["ClassFolder", "setup", "role_config_path", "course_id", "DEFAULT_DIR", "GRADERS", "STUDENTS"]
