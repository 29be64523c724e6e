"""The class's Linux accounts: one per person of the roster, made (and later removed) by the
class itself and by nothing else.

``<class>/accounts.json`` (mode 0600, root's) records every account and group this class made,
with its password, so that making them again is a no-op that prints the same passwords, and
removing the class removes exactly these: an account of the machine that the class did not make
(``root``, a staff member's) is never taken over, changed or deleted; a roster that names one is
refused. Each home folder is mode 0700 (Debian makes them 0755: readable by every other account).
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from autograder.course.roster import Person, check_people
from autograder.course.root import CourseError

GRADERS = "mlsys-graders"    # the instructor (and TAs): read every submission, write feedback
STUDENTS = "mlsys-students"  # the students


def _run(*cmd: str, stdin: str | None = None) -> None:
    res = subprocess.run(list(cmd), input=stdin, capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise CourseError(f"{' '.join(cmd[:2])} ...: {res.stderr.strip() or res.stdout.strip()}")


def exists(kind: str, name: str) -> bool:
    try:
        (pwd.getpwnam if kind == "user" else grp.getgrnam)(name)
        return True
    except KeyError:
        return False


class Accounts:
    """The record of what this class made, at ``path`` (``<class>/accounts.json``)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        data = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self.users: dict[str, dict] = data.get("users", {})
        self.groups: list[str] = data.get("groups", [])

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"users": self.users, "groups": self.groups}, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    def check(self, people: list[Person]) -> None:
        """Refuse, before anything is made, a roster naming an account this class did not make."""
        check_people(people)
        taken = [p.username for p in people if exists("user", p.username) and p.username not in self.users]
        if taken:
            raise CourseError(f"account(s) {', '.join(taken)} already exist on this machine and were not made by this "
                              "class: the class never takes over an account; give those people other ids")
        for g in (GRADERS, STUDENTS):
            if exists("group", g) and g not in self.groups:
                raise CourseError(f"group {g} exists and was not made by this class (another class on this machine?): "
                                  "remove that class first (`mlsys-grade class remove`)")

    def ensure(self, people: list[Person]) -> dict[str, str]:
        """Make every group and account that is missing; returns {username: password}."""
        if os.geteuid() != 0:
            raise CourseError("making the class's accounts needs root (useradd): run `make class` as root")
        self.check(people)
        for g in (GRADERS, STUDENTS):
            if not exists("group", g):
                _run("groupadd", g)
                self.groups.append(g)
                self.save()
        for p in people:
            group = GRADERS if p.role == "instructor" else STUDENTS
            if p.username not in self.users:
                comment = " ".join(x for x in (p.first_name, p.last_name) if x) or p.username
                _run("useradd", "--create-home", "--shell", "/bin/bash", "--gid", group, "--comment",
                     comment.replace(":", " ")[:60], p.username)
                self.users[p.username] = {"password": secrets.token_urlsafe(9), "role": p.role}
                self.save()  # recorded at once: a failure later never leaves an account the class forgets
                _run("chpasswd", stdin=f"{p.username}:{self.users[p.username]['password']}\n")
            entry = pwd.getpwnam(p.username)
            os.chmod(entry.pw_dir, 0o700)
            if grp.getgrgid(entry.pw_gid).gr_name != group:  # a student who became a TA, or back
                _run("usermod", "--gid", group, p.username)
            self.users[p.username]["role"] = p.role
        self.save()
        return {p.username: self.users[p.username]["password"] for p in people}

    def remove(self, kill: bool = True) -> list[str]:
        """Delete every account (with its home) and group this class made; returns their names."""
        import psutil

        gone = []
        for name in list(self.users):
            if exists("user", name):
                uid = pwd.getpwnam(name).pw_uid
                if kill:
                    for proc in psutil.process_iter(["uids"]):
                        if proc.info["uids"] and uid in (proc.info["uids"].real, proc.info["uids"].effective):
                            try:
                                proc.kill()
                            except psutil.Error:
                                pass
                    psutil.wait_procs([p for p in psutil.process_iter(["uids"])
                                       if p.info["uids"] and p.info["uids"].real == uid], timeout=10)
                _run("userdel", "--remove", name) if _home_is_own(name) else _run("userdel", name)
                # the kit's import cache of the account's grading runs (autograder/submission/kit.py)
                shutil.rmtree(Path(tempfile.gettempdir()) / f"mlsys-kit-cache-{uid}", ignore_errors=True)
            gone.append(name)
            del self.users[name]
            self.save()
        for g in list(self.groups):
            if exists("group", g):
                _run("groupdel", g)
            gone.append(g)
            self.groups.remove(g)
            self.save()
        return gone


def _home_is_own(name: str) -> bool:
    entry = pwd.getpwnam(name)
    home = Path(entry.pw_dir)
    return home.is_dir() and home.stat().st_uid == entry.pw_uid and home != Path("/")
