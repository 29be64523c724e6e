"""Collect submissions into ``submitted/<student>/<lab>/<lab>.ipynb`` and the gradebook.

A submission arrives as a folder of notebooks or an LMS zip export. The student id comes from
the file name:

* ``<student>.ipynb`` (a plain folder; ``<student>_<lab>.ipynb`` works too);
* Canvas's download naming ``<name>_[LATE_]<user id>_<submission id>_<original name>.ipynb``
  (e.g. ``doejane_LATE_12345_67890_lab0-costs.ipynb`` -> ``doejane``);
* a zip may hold ``<student>/<anything>.ipynb`` (a folder per student, as Moodle and
  Gradescope exports do) or the names above.

Anything else (not a notebook, a name we cannot read, two notebooks for one student) is listed
in the lab's grading record with the reason; nothing is silently dropped.
"""

from __future__ import annotations

import datetime
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from autograder.course import STUDENT_ID, Course, CourseError

CANVAS = re.compile(r"^(?P<name>[A-Za-z0-9]+)_(?:LATE_)?(?P<uid>\d+)_(?P<sid>\d+)_(?P<orig>.+)$")


@dataclass
class Found:
    student: str
    path: Path
    origin: str  # the file name as it came
    lms_user_id: str | None = None


def student_id(relpath: str, lab: str) -> str | None:
    """The student id a submission's (relative, posix) path names, or None if it names none."""
    p = PurePosixPath(relpath)
    if p.suffix != ".ipynb":
        return None
    stem = p.stem
    m = CANVAS.match(stem)
    if m:
        sid = m.group("name")
    elif len(p.parts) >= 2 and STUDENT_ID.match(p.parts[-2]) and p.parts[-2] not in {lab, "submissions"}:
        sid = p.parts[-2]  # <student>/<file>.ipynb
    else:
        sid = re.sub(rf"[_-]{re.escape(lab)}$", "", stem)
    return sid if STUDENT_ID.match(sid) and sid != lab else None


def _gather(source: Path, workdir: Path) -> list[Path]:
    if source.is_dir():
        return sorted(p for p in source.rglob("*") if p.is_file())
    if source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zf:
            for info in zf.infolist():
                name = PurePosixPath(info.filename)
                if info.is_dir() or name.is_absolute() or ".." in name.parts or "__MACOSX" in name.parts:
                    continue
                target = workdir / Path(*name.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, length=1 << 20)
        return sorted(p for p in workdir.rglob("*") if p.is_file())
    raise CourseError(f"SOURCE must be a folder of notebooks or a .zip export: got {str(source)!r}")


def collect(course: Course, lab: str, source: str | Path) -> dict:
    """Copy each submission in ``source`` to the course's submitted/ folder, add its student to
    the gradebook, and record rejected files. Returns {"collected": [...], "rejected": [...]}."""
    from nbgrader.api import Gradebook

    course.check_lab(lab)
    source = Path(source)
    if not source.exists():
        raise CourseError(f"SOURCE {str(source)!r} does not exist: give a folder of notebooks or a .zip export")
    with tempfile.TemporaryDirectory() as tmp:
        base = source if source.is_dir() else Path(tmp)
        found: dict[str, Found] = {}
        rejected: list[dict] = []
        for path in _gather(source, Path(tmp)):
            rel = path.relative_to(base).as_posix()
            sid = student_id(rel, lab)
            if sid is None:
                why = "not a notebook (.ipynb)" if path.suffix != ".ipynb" else \
                    "cannot derive a student id from the file name (use <student>.ipynb or the LMS naming)"
                rejected.append({"file": rel, "reason": why})
            elif sid in found:
                rejected.append({"file": rel, "reason": f"a second notebook for student {sid!r} "
                                                       f"(kept {found[sid].origin})"})
            else:
                m = CANVAS.match(PurePosixPath(rel).stem)
                found[sid] = Found(sid, path, rel, m.group("uid") if m else None)
        with Gradebook(course.db_url) as gb:
            for f in found.values():
                dest = course.submitted_notebook(lab, f.student)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f.path, dest)
                (dest.parent / "timestamp.txt").write_text(
                    datetime.datetime.fromtimestamp(f.path.stat().st_mtime).isoformat() + "\n")
                gb.update_or_create_student(f.student, **({"lms_user_id": f.lms_user_id} if f.lms_user_id else {}))
    for f in found.values():
        course.update_log(lab, f.student, status="collected", source_file=f.origin, reason=None, notes=[])
    log = course.read_log(lab)
    known = {r["file"] for r in log.get("rejected_files", [])}
    course.update_log(lab, rejected_files=log.get("rejected_files", []) + [r for r in rejected if r["file"] not in known])
    return {"collected": sorted(found), "rejected": rejected}
