"""The class's exchange between real Linux accounts (issue #26, nbgrader #1225): made by
``classroom.setup`` for one instructor and two students, then used as each account (a process
that runs as that user, as the hub's spawner runs it). A student reads released labs and their
own folder only: another's submissions and feedback cannot be listed, read or written; a
submission under another name is refused; a second submission and a late one are kept and say
so; collect takes the newest. Also: a second class start on the same folder and a roster naming
an account the class did not make are refused. Needs root (useradd); every account, group and
process it made is removed at the end, also on failure."""

from __future__ import annotations

import grp
import json
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from autograder.course.accounts import GRADERS, STUDENTS, Accounts, exists
from autograder.course.classroom import REPO, ClassFolder, role_config_path, setup
from autograder.course.root import CourseError
from autograder.course.roster import Person

LAB = "lab0-costs"
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="makes Linux accounts (useradd): run as root")


@pytest.fixture(scope="module")
def klass(class_lock):
    if exists("group", GRADERS) or exists("group", STUDENTS):
        pytest.skip(f"another class holds this machine's groups ({GRADERS}, {STUDENTS}): remove it first")
    tag = secrets.token_hex(2)
    people = [Person(f"mlx{tag}prof", "instructor"), Person(f"mlx{tag}ann"), Person(f"mlx{tag}ben")]
    root = Path(tempfile.mkdtemp(prefix="mlsys-exchange-test-", dir="/tmp"))
    os.chmod(root, 0o755)
    folder = ClassFolder.at(root / "class")
    try:
        setup(folder, people)
        yield folder, [p.username for p in people]
    finally:
        gone = folder.accounts.remove()
        shutil.rmtree(root, ignore_errors=True)
        left = [p.username for p in people if exists("user", p.username)] + [g for g in (GRADERS, STUDENTS)
                                                                            if exists("group", g)]
        assert not left and len(gone) == 5, (left, gone)


def as_user(folder: ClassFolder, user: str, *argv: str, role: str = "student") -> subprocess.CompletedProcess:
    """``python argv...`` as ``user``, the way the hub starts their server (its namespace, its config)."""
    from jupyterhub.spawner import set_user_setuid

    from autograder.course import hub

    entry = pwd.getpwnam(user)
    expose = hub._expose(hub.hidden_ancestors([sys.executable, sys.prefix, sys.base_prefix, str(REPO)]))
    become = set_user_setuid(user)

    def preexec():
        expose()
        become()

    env = {"HOME": entry.pw_dir, "USER": user, "LOGNAME": user, "PATH": f"{hub.BIN}:/usr/bin:/bin",
           "PYTHONPATH": str(REPO), "JUPYTER_CONFIG_PATH": role_config_path(folder, role)}
    return subprocess.run([sys.executable, *argv], cwd=str(folder.course) if role == "instructor" else entry.pw_dir,
                          env=env, preexec_fn=preexec, capture_output=True, text=True, timeout=300)


def nbgrader(folder, user, *args, role="student"):
    return as_user(folder, user, "-m", "nbgrader", *args, role=role)


PROBE = """
import json, os, sys
out = {}
for op, path in json.loads(sys.argv[1]):
    try:
        if op == "list":
            os.listdir(path)
        elif op == "read":
            open(path).read()
        else:
            open(path, "w").write("x")
        out[op + " " + path] = "ok"
    except OSError as e:
        out[op + " " + path] = type(e).__name__
print(json.dumps(out))
"""


def probe(folder, user, ops) -> dict:
    res = as_user(folder, user, "-c", PROBE, json.dumps(ops))
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_the_layout_gives_each_student_a_folder_only_the_graders_share(klass):
    folder, (prof, ann, ben) = klass
    course = folder.exchange / "mlsys"
    gid = grp.getgrnam(GRADERS).gr_gid

    def mode(p):
        st = p.stat()
        return pwd.getpwuid(st.st_uid).pw_name, st.st_gid, stat.S_IMODE(st.st_mode)

    assert mode(course / "inbound") == ("root", gid, 0o751)
    assert mode(course / "feedback") == ("root", gid, 0o751)
    assert mode(course / "outbound") == (prof, gid, 0o2775)
    for s in (ann, ben):
        assert mode(course / "inbound" / s) == (s, gid, 0o2770)
        assert mode(course / "feedback" / s) == (s, gid, 0o2770)
        assert stat.S_IMODE(Path(pwd.getpwnam(s).pw_dir).stat().st_mode) == 0o700
    assert mode(folder.course)[1:] == (gid, 0o2770)


def test_release_fetch_submit_twice_late_collect_and_no_reading_across(klass):
    from nbgrader.api import Gradebook

    folder, (prof, ann, ben) = klass
    course = folder.exchange / "mlsys"
    with Gradebook(folder.db_url) as gb:  # a deadline in the past: every submission is late
        gb.update_or_create_assignment(LAB, duedate="2020-01-01 00:00:00 UTC")
    for step in (("generate_assignment", LAB, "--force"), ("release_assignment", LAB)):
        res = nbgrader(folder, prof, *step, role="instructor")
        assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads((course / "outbound" / ".deadlines.json").read_text())[LAB].startswith("2020-01-01")

    res = nbgrader(folder, ann, "fetch_assignment", LAB)
    assert res.returncode == 0, res.stderr[-3000:]
    first = nbgrader(folder, ann, "submit", LAB)
    second = nbgrader(folder, ann, "submit", LAB)
    assert first.returncode == 0 and second.returncode == 0, first.stderr[-2000:] + second.stderr[-2000:]
    assert "LATE: submitted" in first.stderr and "after the deadline" in first.stderr
    assert "submission 2 of lab0-costs: the newest is the one collected; the 1 before it are kept" in second.stderr
    receipts = (Path(pwd.getpwnam(ann).pw_dir) / "submission-receipts.txt").read_text().splitlines()
    assert len(receipts) == 2 and all("LATE" in r for r in receipts), receipts
    subs = sorted((course / "inbound" / ann).iterdir())
    assert len(subs) == 2  # nothing lost
    for sub in subs:  # every file the graders' group's, readable by it, by no one else
        for f in sub.iterdir():
            st = f.stat()
            assert st.st_gid == grp.getgrnam(GRADERS).gr_gid and stat.S_IMODE(st.st_mode) == 0o640, f

    # ben: under another's name, refused; another's folder: nothing listed, read or written
    res = nbgrader(folder, ben, "fetch_assignment", LAB)
    assert res.returncode == 0, res.stderr[-2000:]
    res = nbgrader(folder, ben, "submit", LAB, "--student", ann)
    assert res.returncode != 0 and f"you submit as yourself ({ben}), not as '{ann}'" in res.stderr
    nb = subs[-1] / f"{LAB}.ipynb"
    seen = probe(folder, ben, [["list", str(course / "inbound")], ["list", str(course / "inbound" / ann)],
                               ["read", str(nb)], ["write", str(course / "inbound" / ann / "planted")],
                               ["list", str(course / "feedback" / ann)], ["list", pwd.getpwnam(ann).pw_dir],
                               ["list", str(folder.course)], ["read", str(folder.course / "gradebook.db")],
                               ["write", str(course / "outbound" / LAB / "planted")]])
    assert all(v == "PermissionError" for v in seen.values()), seen
    # ... while the released lab is everyone's to read
    assert probe(folder, ben, [["list", str(course / "outbound" / LAB)]]) == {
        f"list {course / 'outbound' / LAB}": "ok"}
    # a student cannot collect
    res = nbgrader(folder, ben, "collect", LAB)
    assert res.returncode != 0

    # the instructor collects ann's newest submission
    res = nbgrader(folder, prof, "collect", LAB, role="instructor")
    assert res.returncode == 0, res.stderr[-3000:]
    stamp = (folder.course / "submitted" / ann / LAB / "timestamp.txt").read_text()
    assert stamp == (subs[-1] / "timestamp.txt").read_text() or stamp == max(
        (s / "timestamp.txt").read_text() for s in subs)
    assert not (folder.course / "submitted" / ben).exists()


def test_a_second_start_on_the_same_class_is_refused_while_one_runs(klass):
    from autograder.course import hub

    folder, _ = klass
    running = hub.Lock(folder)
    running.take("http://127.0.0.1:1/")
    try:
        assert hub.Lock(folder).held()
        with pytest.raises(CourseError, match="a class is already running from .* stop it first"):
            hub.Lock(folder).take("http://127.0.0.1:2/")
    finally:
        running.release()
    assert not hub.Lock(folder).held()


def test_a_roster_naming_an_account_the_class_did_not_make_is_refused(tmp_path):
    with pytest.raises(CourseError, match="already exist on this machine and were not made by this class"):
        Accounts(tmp_path / "accounts.json").check([Person("root", "instructor"), Person("nobody")])
