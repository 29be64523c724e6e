"""The class's exchange: nbgrader's file-system exchange, with one folder per student that the
operating system keeps private (nbgrader #1225), plugged in through nbgrader's pluggable exchange
(``c.ExchangeFactory.*``; ``docs/class.md`` says why this and not ngshare).

nbgrader's default exchange has one ``inbound/`` that every account may write into, and
submissions that every account may read once it knows a name. Here::

    <exchange>/<course>/                   root        0755
        outbound/<lab>/                    instructor  2775 (group graders), files 0644: every account reads
        outbound/.deadlines.json           each released lab's due date (from the gradebook), if set
        inbound/                           root        0751 (group graders): no one else lists it
        inbound/<student>/                 <student>   2770 (group graders): the student writes, graders read
        feedback/                          root        0751 (group graders)
        feedback/<student>/                <student>   2770 (group graders): graders write, the student reads

``class_layout`` makes the folders (as root, for every student of the roster); the exchange
classes below move files within them as nbgrader's do, as the account that runs them: a
student submits into their own folder only (under their own name: a submission under another
name is refused) and reads their own feedback only; collect takes each student's newest
submission from that student's folder and skips anything in it that claims another name.
Submitting twice keeps both (the newest is collected); a submission after the deadline is kept
and says so (in the log and in ``submission-receipts.txt`` beside the lab's folder).
"""

from __future__ import annotations

import glob
import grp
import json
import os
import pwd
import re
import secrets
import shutil

from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.exchange.default.exchange import Exchange
from nbgrader.exchange.default.fetch_assignment import ExchangeFetchAssignment
from nbgrader.exchange.default.fetch_feedback import ExchangeFetchFeedback
from nbgrader.exchange.default.list import ExchangeList, _checksum
from nbgrader.exchange.default.release_assignment import ExchangeReleaseAssignment
from nbgrader.exchange.default.release_feedback import ExchangeReleaseFeedback
from nbgrader.exchange.default.submit import ExchangeSubmit
from nbgrader.utils import get_username, ignore_patterns, notebook_hash, parse_utc

from autograder.course.root import CourseError

DEADLINES = ".deadlines.json"
RECEIPTS = "submission-receipts.txt"


def class_layout(root: str, course_id: str, instructor: str, graders: str, students: list[str]) -> list[str]:
    """Make (or repair) the exchange's folders with their owners and modes; idempotent; run as
    root. Returns what it changed, one line each."""
    missing = [f"user {u}" for u in [instructor, *students] if not _exists(pwd.getpwnam, u)]
    missing += [f"group {graders}"] if not _exists(grp.getgrnam, graders) else []
    if missing or not os.path.isabs(str(root)) or not re.fullmatch(r"[A-Za-z0-9_.-]+", str(course_id)):
        raise CourseError(f"cannot lay out the exchange at {root!r} for course {course_id!r}: "
                          + ("; ".join(f"no {m} on this machine" for m in missing) or "give an absolute folder and a "
                             "course id of letters, digits, '.', '_' and '-'"))
    gid = grp.getgrnam(graders).gr_gid
    iuid = pwd.getpwnam(instructor).pw_uid
    course = os.path.join(root, course_id)
    want = [(root, 0, 0, 0o755), (course, 0, 0, 0o755), (os.path.join(course, "outbound"), iuid, gid, 0o2775),
            (os.path.join(course, "inbound"), 0, gid, 0o751), (os.path.join(course, "feedback"), 0, gid, 0o751)]
    for s in students:
        uid = pwd.getpwnam(s).pw_uid
        want += [(os.path.join(course, "inbound", s), uid, gid, 0o2770),
                 (os.path.join(course, "feedback", s), uid, gid, 0o2770)]
    changed = []
    for path, uid, g, mode in want:
        if not os.path.isdir(path):
            os.makedirs(path, exist_ok=True)
            changed.append(f"made {path}")
        st = os.lstat(path)
        if (st.st_uid, st.st_gid) != (uid, g):
            os.lchown(path, uid, g)
        if st.st_mode & 0o7777 != mode:
            os.chmod(path, mode)
    return changed


def _exists(lookup, name) -> bool:
    try:
        lookup(name)
        return True
    except (KeyError, TypeError):
        return False


class ClassExchange(Exchange):
    """What every step shares: the course's folders, and no demand that the root be writable
    by all (nbgrader's default wants ``root`` mode 0777)."""

    def ensure_root(self):
        if not os.path.isdir(self.root):
            self.fail(f"The class's exchange {self.root} does not exist: the instructor makes it with "
                      "`mlsys-grade class start` (docs/class.md)")

    def course_folder(self, *parts: str) -> str:
        if self.coursedir.course_id == "":
            self.fail("No course id specified. Re-run with --course flag.")
        return os.path.join(self.root, self.coursedir.course_id, *parts)

    def own_folder(self, kind: str) -> tuple[str, str]:
        """(student id, this account's own folder of ``kind``): the account's name, always."""
        me = get_username()
        asked = self.coursedir.student_id
        if asked not in ("", "*", me):
            self.fail(f"In this class you {'submit' if kind == 'inbound' else 'fetch'} as yourself ({me}), "
                      f"not as {asked!r}")
        path = self.course_folder(kind, me)
        if not os.path.isdir(path) or not os.access(path, os.W_OK | os.X_OK):
            self.fail(f"Your exchange folder {path} is missing or not yours: you are not on this class's roster "
                      "yet (ask your instructor to add you)")
        return me, path


class ClassReleaseAssignment(ClassExchange, ExchangeReleaseAssignment):
    def ensure_root(self):
        ClassExchange.ensure_root(self)

    def ensure_directory(self, path, mode):
        if not os.path.isdir(path) or not os.access(path, os.W_OK | os.X_OK):
            self.fail(f"{path} is missing or not writable by you: the class's setup makes it "
                      "(`mlsys-grade class start`), for the graders' group")

    def init_dest(self):
        self.course_path = self.course_folder()
        self.outbound_path = self.course_folder("outbound")
        self.inbound_path = self.course_folder("inbound")
        self.dest_path = os.path.join(self.outbound_path, self.coursedir.assignment_id)
        self.ensure_directory(self.outbound_path, 0)

    def copy_files(self):
        super().copy_files()
        self.record_deadline()

    def record_deadline(self):
        """The lab's due date (set in the formgrader), where a student's submit can read it."""
        from nbgrader.api import Gradebook, MissingEntry

        try:
            with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
                due = gb.find_assignment(self.coursedir.assignment_id).duedate
        except MissingEntry:
            due = None
        path = os.path.join(self.outbound_path, DEADLINES)
        data = read_deadlines(self.outbound_path)
        data[self.coursedir.assignment_id] = due.isoformat() if due else None
        tmp = f"{path}.{secrets.token_hex(4)}"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)


def read_deadlines(outbound: str) -> dict:
    try:
        with open(os.path.join(outbound, DEADLINES)) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


class ClassFetchAssignment(ClassExchange, ExchangeFetchAssignment):
    """nbgrader's fetch from ``outbound/`` (every account reads it), without its demand that the
    exchange's root be writable by all."""


class ClassSubmit(ClassExchange, ExchangeSubmit):
    def init_dest(self):
        student, self.inbound_path = self.own_folder("inbound")
        self.cache_path = os.path.join(self.cache, self.coursedir.course_id)
        random_str = secrets.token_urlsafe(9)
        self.assignment_filename = f"{student}+{self.coursedir.assignment_id}+{self.timestamp}+{random_str}"

    def copy_files(self):
        self.init_release()
        lab = self.coursedir.assignment_id
        earlier = glob.glob(os.path.join(self.inbound_path, f"*+{glob.escape(lab)}+*"))
        secret = secrets.token_hex(64)
        dest = os.path.join(self.inbound_path, self.assignment_filename)
        cache = os.path.join(self.cache_path, self.assignment_filename.rsplit("+", 1)[0])
        self.log.info("Source: %s", self.src_path)
        self.log.info("Destination: %s", dest)
        self.check_filename_diff()
        for target in (dest, cache):
            self.copy_into(target, secret)
        # the folder (2770, group graders) keeps it from every other student; the graders read it
        self.set_perms(dest, fileperms=0o640, dirperms=0o2750)
        notes = []
        if earlier:
            notes.append(f"submission {len(earlier) + 1} of {lab}: the newest is the one collected; the "
                         f"{len(earlier)} before it are kept")
        due = read_deadlines(self.course_folder("outbound")).get(lab)
        if due:
            when, deadline = parse_utc(self.timestamp), parse_utc(due)
            if when > deadline:
                notes.append(f"LATE: submitted {when:%Y-%m-%d %H:%M:%S} UTC, after the deadline "
                             f"{deadline:%Y-%m-%d %H:%M:%S} UTC; it is kept, and the course's late policy applies")
        for n in notes:
            self.log.warning(n)
        with open(os.path.join(self.assignment_dir, RECEIPTS), "a") as fh:
            fh.write(f"{self.timestamp}  {self.coursedir.course_id} {lab}  submitted"
                     + "".join(f"; {n}" for n in notes) + "\n")
        self.log.info("Submitted as: %s %s %s", self.coursedir.course_id, lab, self.timestamp)


    def copy_into(self, target: str, secret: str) -> None:
        """The submission into ``target``, every file made before any folder's mode is set: the
        student's folder is setgid (group graders), so every file made in it is the graders'
        group's; a chmod by the student (who is not in that group) clears the setgid bit, after
        which new files would be the student's group's, unreadable by the graders."""
        if self.get_size(self.src_path) > 1000 * self.coursedir.max_dir_size:
            self.fail(f"Your lab folder {self.src_path} is over {self.coursedir.max_dir_size} kB: remove large "
                      "files (data, outputs) and submit again; nothing was submitted")
        os.makedirs(target)
        for name, text in (("timestamp.txt", self.timestamp), ("submission_secret.txt", secret)):
            with open(os.path.join(target, name), "w") as fh:
                fh.write(text)
        shutil.copytree(self.src_path, target, dirs_exist_ok=True,
                        ignore=ignore_patterns(exclude=self.coursedir.ignore, include=self.coursedir.include,
                                               max_file_size=self.coursedir.max_file_size, log=self.log))


class ClassCollect(ClassExchange, ExchangeCollect):
    def init_src(self):
        self.inbound_path = self.course_folder("inbound")
        if not os.access(self.inbound_path, os.R_OK | os.X_OK):
            self.fail(f"You cannot read {self.inbound_path}: collect as a member of the graders' group")
        who = self.coursedir.student_id or "*"
        lab = self.coursedir.assignment_id
        records, self.skipped = [], []
        for path in glob.glob(os.path.join(self.inbound_path, who, f"*+{glob.escape(lab)}+*")):
            folder = os.path.basename(os.path.dirname(path))
            rec = self._path_to_record(path)
            if rec["username"] != folder:  # planted in one's own folder under another's name
                self.skipped.append(path)
                self.log.warning("Skipped %s: it is in %s's folder but names %s", path, folder, rec["username"])
                continue
            rec["filename"] = os.path.join(folder, rec["filename"])
            records.append(rec)
        by_student: dict[str, list] = {}
        for rec in records:
            by_student.setdefault(rec["username"], []).append(rec)
        self.src_records = []
        due = self._duedate()
        for recs in by_student.values():
            recs = self._sort_by_timestamp(recs)
            on_time = [r for r in recs if due is None or r["timestamp"] <= due]
            self.src_records.append(on_time[0] if (self.before_duedate and on_time) else recs[0])
        self.counts = {s: len(v) for s, v in by_student.items()}

    def _duedate(self):
        from nbgrader.api import Gradebook, MissingEntry

        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                return gb.find_assignment(self.coursedir.assignment_id).duedate
            except MissingEntry:
                return None

    def copy_files(self):
        super().copy_files()
        self.record()

    def record(self):
        """What was collected, in the course's grading record (``mlsys-grade export`` reads it)."""
        from autograder.course.root import Course, CourseError

        try:
            course = Course(self.coursedir.root)
        except CourseError:
            return
        lab = self.coursedir.assignment_id
        for rec in self.src_records:
            n = self.counts.get(rec["username"], 1)
            course.update_log(lab, rec["username"], status="collected", source_file=f"exchange:{rec['filename']}",
                              reason=None, notes=[], collect_notes=[f"{n} submissions in the exchange; the newest "
                                                                    "collected"] if n > 1 else [])


class ClassList(ClassExchange, ExchangeList):
    def init_dest(self):
        if self.inbound:
            course = self.coursedir.course_id or "*"
            who = self.coursedir.student_id or "*"
            lab = self.coursedir.assignment_id or "*"
            self.assignments = sorted(glob.glob(os.path.join(self.root, course, "inbound", who, f"{who}+{lab}+*")))
        else:
            super().init_dest()

    def parse_assignment(self, assignment):
        if self.inbound:
            m = re.match(r".*/(?P<course_id>[^/]*)/inbound/[^/]+/(?P<student_id>[^+/]*)\+(?P<assignment_id>[^+]*)"
                         r"\+(?P<timestamp>[^+]*)(?P<random_string>\+.*)?$", assignment)
            if m is None:
                raise RuntimeError(f"Could not read the submission's name {assignment!r}")
            return m.groupdict()
        return super().parse_assignment(assignment)

    def parse_assignments(self):
        """nbgrader's listing, with the feedback looked for in the student's own folder."""
        assignments = super().parse_assignments()
        if not (self.inbound or self.cached):
            return assignments
        for a in assignments:
            for info in a["submissions"]:
                self._own_feedback(info)
        return assignments

    def _own_feedback(self, info):
        secret_path = os.path.join(info["path"], "submission_secret.txt")
        if not os.path.isfile(secret_path):
            return
        with open(secret_path) as fh:
            secret = fh.read()
        folder = os.path.join(self.root, info["course_id"], "feedback", info["student_id"])
        for nb in info["notebooks"]:
            there = os.path.join(folder, f"{notebook_hash(secret=secret, notebook_id=nb['notebook_id'])}.html")
            nb["has_exchange_feedback"] = os.path.isfile(there)
            if nb["has_local_feedback"] and nb["has_exchange_feedback"]:
                nb["feedback_updated"] = _checksum(there) != _checksum(nb["local_feedback_path"])
        if info["notebooks"]:
            info["has_exchange_feedback"] = all(nb["has_exchange_feedback"] for nb in info["notebooks"])
            info["feedback_updated"] = any(nb["feedback_updated"] for nb in info["notebooks"])


class ClassReleaseFeedback(ClassExchange, ExchangeReleaseFeedback):
    def init_dest(self):
        self.dest_path = self.course_folder("feedback")

    def copy_files(self):
        skip = set(filter(None, (self.coursedir.student_id_exclude or "").split(",")))
        pattern = os.path.join(self.src_path, "*.html")
        for html in sorted(glob.glob(pattern)):
            folder = os.path.dirname(html)
            student = os.path.basename(os.path.dirname(folder))
            notebook_id = os.path.splitext(os.path.basename(html))[0]
            if student in skip:
                continue
            dest_dir = os.path.join(self.dest_path, student)
            if not os.path.isdir(dest_dir) or not os.access(dest_dir, os.W_OK | os.X_OK):
                self.log.error("No feedback folder for %s (%s): not on the class's roster; feedback not released",
                               student, dest_dir)
                continue
            with open(os.path.join(folder, "submission_secret.txt")) as fh:
                checksum = notebook_hash(secret=fh.read(), notebook_id=notebook_id)
            tmp = os.path.join(dest_dir, f"{checksum}-tmp.html")
            shutil.copy(html, tmp)
            os.chmod(tmp, 0o644)  # the student reads it; the folder (2770) keeps everyone else out
            os.replace(tmp, os.path.join(dest_dir, f"{checksum}.html"))
            self.log.info("Released feedback for student '%s' on '%s/%s'", student, self.coursedir.assignment_id,
                          notebook_id)


class ClassFetchFeedback(ClassExchange, ExchangeFetchFeedback):
    def init_src(self):
        me, self.src_path = self.own_folder("feedback")
        self.cache_path = os.path.join(self.cache, self.coursedir.course_id)
        lab = self.coursedir.assignment_id or "*"
        self.feedback_files = []
        for sub in glob.glob(os.path.join(self.cache_path, f"*+{lab}+*")):
            _, _, timestamp = os.path.basename(sub).split("+")[:3]
            secret_path = os.path.join(sub, "submission_secret.txt")
            if not os.path.isfile(secret_path):
                continue
            with open(secret_path) as fh:
                secret = fh.read()
            for nb in glob.glob(os.path.join(sub, "*.ipynb")):
                notebook_id = os.path.splitext(os.path.basename(nb))[0]
                path = os.path.join(self.src_path, f"{notebook_hash(secret=secret, notebook_id=notebook_id)}.html")
                if os.path.exists(path):
                    self.feedback_files.append((notebook_id, timestamp, path))
                    self.log.info("Found feedback for %s/%s submitted at %s", lab, notebook_id, timestamp)
                else:
                    self.log.warning("No feedback yet for %s/%s submitted at %s", lab, notebook_id, timestamp)


def factory_config(c, root: str) -> None:
    """Point nbgrader at this exchange (in an nbgrader_config.py: ``factory_config(c, ROOT)``)."""
    c.Exchange.root = root
    c.Exchange.path_includes_course = False
    for step, cls in (("release_assignment", "ClassReleaseAssignment"), ("fetch_assignment", "ClassFetchAssignment"),
                      ("submit", "ClassSubmit"),
                      ("collect", "ClassCollect"), ("list", "ClassList"), ("release_feedback", "ClassReleaseFeedback"),
                      ("fetch_feedback", "ClassFetchFeedback")):
        setattr(c.ExchangeFactory, step, f"autograder.course.exchange.{cls}")
    c.ExchangeFactory.exchange = "autograder.course.exchange.ClassExchange"

