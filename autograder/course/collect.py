"""Collect submissions into ``submitted/<student>/<lab>/<lab>.ipynb`` and the gradebook.

A submission arrives as a folder of notebooks or an LMS zip export. Every entry (a file of the
folder, a member of the zip) either becomes exactly one student's submission or is listed as
rejected with its reason; nothing is dropped without a word. Who a file belongs to
(``docs/grading.md``, "Collect: who a file belongs to"):

1. Wrapper folders named like the lab, ``submissions`` or ``submitted`` are looked through.
2. **A folder per student owns its folder**: a file under ``alice/`` (at any depth) is a
   candidate for ``alice`` and nobody else, whatever its own name says
   (``alice/bob_1_1_lab0-costs.ipynb`` is Alice's, never Bob's). The folder name must be a
   student id (ASCII letters, digits, ``.``, ``_``, ``-``).
3. A file at the top level names its student: Canvas's download naming
   ``<name>_[LATE_]<user id>_<submission id>_<original name>.ipynb`` (ids ASCII digits; the
   user id goes to the gradebook), else ``<student>.ipynb``, ``<student>_<lab>.ipynb`` or
   ``<student>-<lab>.ipynb``.
4. **Two candidates for one student are both rejected and reported**; neither silently wins.

Rejected before anything else: absolute paths, ``..`` (path traversal), ``__MACOSX`` and
``._*`` (macOS metadata), Jupyter checkpoint copies, links and special files, names with control
characters, encrypted members, and anything that is not ``.ipynb``. A notebook over the size cap
(``MAX_FILE_MB``) is read (up to ``MAX_READ_MB``) and its outputs and metadata other than
nbgrader's are cleared (``strip_bloat``): under the cap then, it is collected with a note that
says so; its code and text alone over the cap, it is rejected ("too large"). A zip is refused
whole, before anything is extracted, when its member count or its total uncompressed size
passes the caps (a zip bomb).

A rejected entry is recorded with the student it names where that can be told (a notebook whose
path is acceptable: its folder's or its file's name), so the grade export has a row for it
(``report.rows``); a later collect that takes a submission of that student replaces the record.
"""

from __future__ import annotations

import datetime
import json
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autograder.course.root import STUDENT_ID, Course, CourseError

# Canvas "download submissions": <name>_[LATE_]<user id>_<submission id>_<original file name>
CANVAS = re.compile(r"^(?P<name>[A-Za-z0-9]+)_(?:LATE_)?(?P<uid>[0-9]+)_(?P<sid>[0-9]+)_(?P<orig>.+)$", re.ASCII)
WRAPPERS = {"submissions", "submitted"}
MAX_FILE_MB = 20          # one notebook
MAX_READ_MB = 160         # a notebook over MAX_FILE_MB is read up to this to clear its outputs and metadata
MAX_TOTAL_MB = 512        # a whole zip, uncompressed
MAX_MEMBERS = 10_000      # members of a zip
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class Entry:
    """One file of the source: its path as it came (posix) and, once read, its verdict."""
    name: str
    size: int
    load: object = None            # (cap) -> bytes, for the ones that are kept
    student: str | None = None
    reason: str | None = None
    claimed: str | None = None     # a rejected entry: the student it names, where that can be told
    lms_user_id: str | None = None
    notes: list[str] = field(default_factory=list)
    mtime: float | None = None


def _path_problem(name: str) -> str | None:
    """Why a member's path can never be a submission (None: it may be one)."""
    if CONTROL.search(name):
        return "the name holds control characters"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    parts = PurePosixPath(name).parts
    if ".." in parts:
        return "path traversal ('..')"
    if "__MACOSX" in parts or PurePosixPath(name).name.startswith("._"):
        return "__MACOSX metadata (macOS resource fork), not a submission"
    if ".ipynb_checkpoints" in parts:
        return "a Jupyter checkpoint copy (.ipynb_checkpoints), not the submission"
    return None


def owner(name: str, lab: str) -> tuple[str | None, str | None, str | None]:
    """(student, lms user id, reason when none) for a member path, by the rules above."""
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    while len(parts) > 1 and (parts[0] == lab or parts[0] in WRAPPERS):
        parts = parts[1:]
    if len(parts) >= 2:  # a folder per student owns its folder
        folder = parts[0]
        if not STUDENT_ID.match(folder):
            return None, None, (f"folder {folder!r} is not a student id (ASCII letters, digits, '.', '_', '-'; "
                                "starting with a letter or digit)")
        return folder, None, None
    stem = PurePosixPath(parts[-1]).stem
    m = CANVAS.match(stem)
    if m:
        return m.group("name"), m.group("uid"), None
    sid = re.sub(rf"[_-]{re.escape(lab)}$", "", stem)
    if STUDENT_ID.match(sid) and sid != lab and sid not in WRAPPERS:
        return sid, None, None
    return None, None, ("cannot tell whose it is: name a top-level file <student>.ipynb, <student>_<lab>.ipynb or "
                        "Canvas's <name>_<user id>_<submission id>_<file>.ipynb, or put it in a folder named "
                        "after the student")


def claimant(name: str, lab: str) -> str | None:
    """The student a rejected entry names, where that can be told: a notebook whose path is
    acceptable, named by its folder or its file as ``owner`` reads them (else None)."""
    if _path_problem(name) or PurePosixPath(name).suffix != ".ipynb":
        return None
    return owner(name, lab)[0]


def strip_bloat(blob: bytes, cap: int) -> tuple[bytes | None, str]:
    """A notebook over ``cap`` bytes with its outputs, execution counts and metadata other than
    nbgrader's cleared: (the new notebook, a note) when it then fits, else (None, the reason
    it is rejected). Its cells' sources and attachments (the student's code and text) are kept."""
    size = len(blob) / 2**20
    over = f"too large: {size:.1f} MiB, over the cap of {cap / 2**20:.0f} MiB per notebook"
    try:
        nb = json.loads(blob)
    except (ValueError, UnicodeDecodeError):
        return None, over
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return None, over
    meta = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    nb["metadata"] = {k: meta[k] for k in ("kernelspec", "language_info")
                      if isinstance(meta.get(k), dict) and len(json.dumps(meta[k])) < 4096}
    for cell in nb["cells"]:
        if not isinstance(cell, dict):
            continue
        m = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        grader = m.get("nbgrader") if isinstance(m.get("nbgrader"), dict) else None
        cell["metadata"] = {} if grader is None else {"nbgrader": {
            k: v for k, v in grader.items() if k in NBGRADER_KEYS and (
                isinstance(v, (bool, int, float)) or (isinstance(v, str) and len(v) <= 256))}}
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    out = json.dumps(nb, ensure_ascii=False, indent=1).encode()
    if len(out) > cap:
        return None, (f"{over}; its code and text alone (outputs and metadata cleared) are {len(out) / 2**20:.1f} "
                      "MiB")
    left = f"{len(out) / 2**20:.1f} MiB" if len(out) >= 2**20 else f"{len(out) / 2**10:.1f} KiB"
    return out, (f"the notebook was {size:.1f} MiB, over the cap of {cap / 2**20:.0f} MiB per notebook, because of its "
                 f"outputs and metadata: they were cleared before grading ({left} left; its code and text are as "
                 "submitted)")


NBGRADER_KEYS = {"grade", "grade_id", "locked", "points", "schema_version", "solution", "task", "checksum",
                 "cell_type"}


def _from_folder(source: Path, max_file: int) -> list[Entry]:
    entries = []
    for p in sorted(source.rglob("*")):
        rel = p.relative_to(source).as_posix()
        st = p.lstat()
        if stat.S_ISDIR(st.st_mode):
            continue
        e = Entry(rel, st.st_size, mtime=st.st_mtime)
        if stat.S_ISLNK(st.st_mode):
            e.reason = "a symbolic link, not a file (links are never followed)"
        elif not stat.S_ISREG(st.st_mode):
            e.reason = "not a regular file"
        else:
            e.load = lambda cap, p=p: _read_capped(p.open("rb"), cap)
        entries.append(e)
    return entries


def _read_capped(f, cap: int) -> bytes:
    with f:
        data = f.read(cap + 1)
    if len(data) > cap:
        raise ValueError("larger than it declared")
    return data


def _from_zip(zf: zipfile.ZipFile, max_file: int, max_total: int, max_members: int) -> list[Entry]:
    infos = zf.infolist()
    if len(infos) > max_members:
        raise CourseError(f"the zip has {len(infos)} members, over the cap of {max_members}: nothing was extracted "
                          "(split the export, or raise the cap if this is a real class)")
    total = sum(i.file_size for i in infos)
    if total > max_total:
        raise CourseError(f"the zip expands to {total / 2**20:.1f} MiB, over the cap of {max_total / 2**20:.0f} MiB: "
                          "nothing was extracted (a zip bomb, or an export with more than notebooks in it)")
    entries = []
    names = [i.filename for i in infos]
    for info in infos:
        name = info.filename.replace("\\", "/")
        if info.is_dir():
            continue
        e = Entry(name, info.file_size, mtime=datetime.datetime(*info.date_time).timestamp())
        mode = info.external_attr >> 16
        if names.count(info.filename) > 1:
            e.reason = f"the zip holds {names.count(info.filename)} members with this same name"
        elif stat.S_ISLNK(mode):
            e.reason = "a symbolic link, not a file (links are never followed)"
        elif info.flag_bits & 0x1:
            e.reason = "an encrypted member"
        else:
            e.load = lambda cap, info=info: _read_capped(zf.open(info), min(info.file_size, cap))
        entries.append(e)
    return entries


def judge_entries(entries: list[Entry], lab: str, max_file: int, max_read: int | None = None) -> list[Entry]:
    """Give every entry a student or a reason (in place); then reject every student's candidates
    when there is more than one. A notebook over ``max_file`` but not over ``max_read`` stays a
    candidate (``collect`` clears its outputs and metadata); a rejected entry gets the student
    it names in ``claimed`` where that can be told."""
    max_read = max(max_file, max_read if max_read is not None else max_file)
    for e in entries:
        if e.reason:
            e.claimed = claimant(e.name, lab)
            continue
        e.reason = _path_problem(e.name)
        if e.reason:
            continue
        if PurePosixPath(e.name).suffix != ".ipynb":
            e.reason = "not a notebook (.ipynb)"
            continue
        if e.size > max_read:
            e.reason = f"too large: {e.size / 2**20:.1f} MiB, over the cap of {max_file / 2**20:.0f} MiB per notebook"
            e.claimed = claimant(e.name, lab)
            continue
        e.student, e.lms_user_id, e.reason = owner(e.name, lab)
        if e.student:
            m = CANVAS.match(PurePosixPath(e.name).stem)  # an LMS-made name inside a student's folder
            named = m and m.group("name")
            if named and named != e.student:
                e.notes.append(f"its file name names {named!r}, but it is in {e.student!r}'s folder: the folder decides")
    by_student: dict[str, list[Entry]] = {}
    for e in entries:
        if e.student:
            by_student.setdefault(e.student, []).append(e)
    for sid, cands in by_student.items():
        if len(cands) > 1:
            names = ", ".join(c.name for c in cands)
            for c in cands:
                c.reason = (f"ambiguous: {len(cands)} candidate files for student {sid!r} ({names}); none was "
                            "taken: collect the right one alone")
                c.student, c.claimed = None, sid
    return entries


def collect(course: Course, lab: str, source: str | Path, max_file_mb: float = MAX_FILE_MB,
            max_total_mb: float = MAX_TOTAL_MB, max_members: int = MAX_MEMBERS,
            max_read_mb: float = MAX_READ_MB) -> dict:
    """Copy each submission in ``source`` (a folder or a .zip) to the course's submitted/ folder,
    add its student to the gradebook, and record rejected entries with their reasons (and the
    student each names, where that can be told). A notebook over ``max_file_mb`` (read up to
    ``max_read_mb``) is collected with its outputs and metadata cleared when that brings it under
    the cap. Returns {"collected": [student...], "rejected": [{"file", "reason", "student"}...],
    "notes": {student: [...]}}."""
    from nbgrader.api import Gradebook

    course.check_lab(lab)
    for name, value in (("max_file_mb", max_file_mb), ("max_total_mb", max_total_mb), ("max_members", max_members),
                        ("max_read_mb", max_read_mb)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise CourseError(f"{name} must be a positive number: got {value!r}")
    max_file, max_total = int(max_file_mb * 2**20), int(max_total_mb * 2**20)
    max_read = max(max_file, int(max_read_mb * 2**20))
    source = Path(source)
    if not source.exists():
        raise CourseError(f"SOURCE {str(source)!r} does not exist: give a folder of notebooks or a .zip export")
    zf = None
    try:
        if source.is_dir():
            entries = _from_folder(source, max_file)
        elif source.is_file() and zipfile.is_zipfile(source):
            zf = zipfile.ZipFile(source)
            entries = _from_zip(zf, max_file, max_total, max_members)
        else:
            raise CourseError(f"SOURCE must be a folder of notebooks or a .zip export: got {str(source)!r}")
        judge_entries(entries, lab, max_file, max_read)
        kept: list[Entry] = []
        with Gradebook(course.db_url) as gb:
            for e in entries:  # one at a time: never more than one notebook in memory
                if not e.student:
                    continue
                try:
                    blob = e.load(max_read)
                except (OSError, ValueError, zipfile.BadZipFile, RuntimeError) as exc:
                    why = f"could not be read: {type(exc).__name__}: {exc}"[:300]
                    e.reason, e.claimed, e.student = why, e.student, None
                    continue
                if len(blob) > max_file:  # over the cap: graded if its outputs and metadata were the weight
                    blob, why = strip_bloat(blob, max_file)
                    if blob is None:
                        e.reason, e.claimed, e.student = why, e.student, None
                        continue
                    e.notes.append(why)
                dest = course.submitted_notebook(lab, e.student)
                if dest.parent.exists():
                    shutil.rmtree(dest.parent)  # a re-collect replaces the student's earlier submission whole
                dest.parent.mkdir(parents=True)
                dest.write_bytes(blob)
                stamp = datetime.datetime.fromtimestamp(e.mtime) if e.mtime else datetime.datetime.now()
                (dest.parent / "timestamp.txt").write_text(stamp.isoformat() + "\n")
                gb.update_or_create_student(e.student, **({"lms_user_id": e.lms_user_id} if e.lms_user_id else {}))
                kept.append(e)
    finally:
        if zf is not None:
            zf.close()
    for e in kept:
        course.update_log(lab, e.student, status="collected", source_file=e.name, reason=None, notes=[],
                          collect_notes=list(e.notes))
    rejected = [{"file": e.name, "reason": e.reason, "student": e.claimed} for e in entries if e.student is None]
    log = course.read_log(lab)
    taken = {e.student for e in kept}  # a student's submission taken now replaces earlier rejections of theirs
    earlier = [r for r in log.get("rejected_files", []) if r.get("student") not in taken or r.get("student") is None]
    known = {(r["file"], r["reason"]) for r in earlier}
    course.update_log(lab, rejected_files=earlier + [r for r in rejected if (r["file"], r["reason"]) not in known])
    return {"collected": sorted(e.student for e in kept), "rejected": rejected,
            "notes": {e.student: e.notes for e in kept if e.notes}}
