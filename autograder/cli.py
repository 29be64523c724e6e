"""``mlsys-grade``: the instructor's side of the course, on nbgrader and its gradebook.

    mlsys-grade release LAB | --all         student versions into <course>/release/
    mlsys-grade collect LAB SOURCE          a folder of notebooks or an LMS .zip export
    mlsys-grade autograde LAB [--jobs N] [--timeout S] [--notebook-timeout S] [--student ID ...] [--force]
    mlsys-grade feedback LAB                feedback HTML per student
    mlsys-grade export --to FILE.csv [--lab LAB ...] [--format plain|canvas|gradescope|moodle]
    mlsys-grade summary LAB                 score distribution per test, most failed test, flags
    mlsys-grade qa [LAB ...]                solution full, release zero, every mutant less
    mlsys-grade build [LAB ...|--all] [--check]   labs/authoring/<lab>.py -> labs/source/<lab>/<lab>.ipynb
    mlsys-grade roster FILE.csv [--format auto|plain|canvas|moodle] [--instructor NAME] [--json]   check a roster
    mlsys-grade class start --roster FILE.csv [--dir DIR] [--port N]   JupyterHub for a class (make class)
    mlsys-grade class stop|remove [--dir DIR]        stop a running class; remove its accounts (--purge: all)

Every grading command takes ``--course DIR`` (default: labs/), before the command
(``mlsys-grade --course DIR autograde LAB``) or after it (``mlsys-grade autograde LAB --course DIR``).
Bad input exits with status 2 and a message that says what was wrong and what is allowed; a
failed QA exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from autograder.course.root import Course, CourseError
from mlsys_kit import checks


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlsys-grade", description="Release, collect, autograde, feedback, "
                                     "export and lab QA for the mlsys-kit nbgrader course.")
    # --course before the command or after it: two destinations, reconciled in main()
    parser.add_argument("--course", dest="course_top", metavar="DIR", help="the nbgrader course root (default: labs)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--course", dest="course_sub", metavar="DIR", help="the nbgrader course root (default: labs)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("release", parents=[common], help="generate the student version of a lab (or all)")
    p.add_argument("lab", nargs="?")
    p.add_argument("--all", action="store_true", help="release every lab")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("collect", parents=[common], help="take submissions from a folder or an LMS zip")
    p.add_argument("lab")
    p.add_argument("source", help="folder of notebooks or .zip export (Canvas naming understood)")
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("autograde", parents=[common], help="autograde every collected submission of a lab")
    p.add_argument("lab")
    p.add_argument("--jobs", type=checks.arg(checks.positive_int, int, "--jobs"), default=1,
                   help="submissions graded at once (default 1)")
    p.add_argument("--timeout", type=checks.arg(checks.positive_number, float, "--timeout"), default=60,
                   help="seconds a cell may run before it is interrupted (default 60)")
    p.add_argument("--notebook-timeout", type=checks.arg(checks.positive_number, float, "--notebook-timeout"),
                   help="seconds a whole submission may take (default max(120, 10 x --timeout))")
    p.add_argument("--deadline", type=checks.arg(checks.positive_number, float, "--deadline"),
                   help="seconds the grader waits for one submission before it kills its worker with the whole "
                        "process tree and records why (default --notebook-timeout + 60)")
    p.add_argument("--student", nargs="+", metavar="ID", help="grade only these students")
    p.add_argument("--force", action="store_true",
                   help="grade again submissions already graded (default: only new, changed or interrupted ones)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_autograde)

    p = sub.add_parser("feedback", parents=[common], help="feedback HTML for every autograded submission")
    p.add_argument("lab")
    p.set_defaults(func=cmd_feedback)

    p = sub.add_parser("export", parents=[common], help="grades CSV: one row per student per lab")
    p.add_argument("--to", required=True, metavar="FILE.csv")
    p.add_argument("--lab", nargs="+", help="only these labs (default: all)")
    p.add_argument("--format", default="plain", choices=["plain", "canvas", "gradescope", "moodle"],
                   help="plain: a row per student per lab with per-cell points; canvas/gradescope/moodle: "
                        "a row per student in the columns that LMS imports")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("summary", parents=[common], help="class summary: score distribution per test, flags, errors")
    p.add_argument("--check-variants", action="store_true",
                   help="run the lab's own solution on the variant of every student who failed a hidden test after "
                        "passing its visible part: a variant the solution fails is a bug in the lab")
    p.add_argument("lab")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("qa", parents=[common], help="prove each lab's tests tell right from wrong")
    p.add_argument("labs", nargs="*", metavar="LAB", help="labs to check (default: all)")
    p.add_argument("--jobs", type=checks.arg(checks.positive_int, int, "--jobs"), default=2)
    p.add_argument("--json", action="store_true", help="print the reports as JSON")
    p.add_argument("--sample", type=_sample_arg, default=12, metavar="N|all",
                   help="automatic mutants per lab: N (a fixed choice; default 12) or all (what `make qa` runs)")
    p.add_argument("--nbgrader-mutants", action="store_true",
                   help="grade the hand-written mutants through nbgrader and the sandbox as well (what `make qa` "
                        "does); by default they are judged in the fast runs, on every student variant")
    p.set_defaults(func=cmd_qa)

    p = sub.add_parser("build", parents=[common], help="build source notebooks from labs/authoring/<lab>.py")
    p.add_argument("labs", nargs="*", metavar="LAB", help="labs to build")
    p.add_argument("--all", action="store_true", help="build every lab in <course>/authoring/")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 listing the labs whose committed notebook differs from its build")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("roster", help="check a class roster (ours, Canvas's or Moodle's CSV) and list who is in it")
    _roster_args(p, positional=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_roster, needs_course=False)

    p = sub.add_parser("class", help="a class on this machine: JupyterHub, accounts, the course and its exchange")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = acts.add_parser("start", help="make or repair the class from a roster, then run its hub until Ctrl-C")
    _roster_args(a, positional=False)
    a.add_argument("--port", type=checks.arg(_port, int, "--port"), default=8000,
                   help="the hub's port on 127.0.0.1 (default 8000)")
    a.add_argument("--setup-only", action="store_true", help="make or repair the class, print the accounts, exit")
    for name, helptext in (("stop", "stop the class running from --dir (the course and the grades stay)"),
                           ("remove", "stop the class and delete the accounts and groups it made")):
        a = acts.add_parser(name, help=helptext)
    for a in acts.choices.values():
        a.add_argument("--dir", default=None, metavar="DIR", help="the class folder (default /srv/mlsys-class)")
    acts.choices["remove"].add_argument("--purge", action="store_true",
                                        help="also delete the class folder: the course, the gradebook, the exchange")
    p.set_defaults(func=cmd_class, needs_course=False)
    return parser


def _port(name: str, value: int) -> int:
    if not 1 <= checks.positive_int(name, value) <= 65535:
        raise ValueError(f"{name} must be a TCP port, 1 to 65535: got {value!r}")
    return value


def _roster_args(p: argparse.ArgumentParser, positional: bool) -> None:
    if positional:
        p.add_argument("file", metavar="FILE.csv", help="the roster CSV")
    else:
        p.add_argument("--roster", required=True, metavar="FILE.csv", help="the roster CSV")
    p.add_argument("--format", default="auto", choices=["auto", "plain", "canvas", "moodle"],
                   help="the roster's layout (default: told from its header)")
    p.add_argument("--instructor", metavar="NAME", help="the instructor's account (an LMS roster lists students only)")


def cmd_roster(args: argparse.Namespace, course: Course | None) -> int:
    from autograder.course.roster import read_roster

    people = read_roster(args.file, args.format, args.instructor)
    if args.json:
        json.dump([p.as_dict() for p in people], sys.stdout, indent=2)
        print()
        return 0
    for p in people:
        name = " ".join(x for x in (p.first_name, p.last_name) if x)
        print(f"{p.role:<10} {p.username:<24} {name}")
    print(f"{sum(p.role == 'student' for p in people)} students, {sum(p.role == 'instructor' for p in people)} "
          "instructor(s): the roster is fine")
    return 0


def cmd_class(args: argparse.Namespace, course: Course | None) -> int:
    from autograder.course import hub
    from autograder.course.classroom import DEFAULT_DIR, ClassFolder, setup
    from autograder.course.roster import read_roster

    folder = ClassFolder.at(args.dir or DEFAULT_DIR)
    if args.action == "start":
        people = read_roster(args.roster, args.format, args.instructor)
        if hub.Lock(folder).held():  # before anything is changed
            hub.Lock(folder).take("")
        passwords = setup(folder, people)
        if args.setup_only:
            for p in people:
                print(f"  {p.role:<10} {p.username:<20} password {passwords[p.username]}")
            return 0
        return hub.run(folder, args.port, passwords, out=lambda m: print(m, flush=True))
    if args.action == "stop":
        print(f"stopped the class in {folder.root}" if hub.stop(folder) else f"no class is running from {folder.root}")
        return 0
    hub.stop(folder)
    gone = folder.accounts.remove()
    print(f"removed {len(gone)} accounts and groups: {', '.join(gone) or 'none'}")
    if args.purge and folder.root.is_dir():
        import shutil

        shutil.rmtree(folder.root)
        print(f"deleted {folder.root}")
    return 0


def _sample_arg(text: str) -> int | None:
    if text == "all":
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"--sample takes a positive number of mutants or 'all': got {text!r}")
    return n


def cmd_build(args: argparse.Namespace, course: Course) -> int:
    from autograder.course.build import authored_labs, build

    if bool(args.labs) == bool(args.all):
        raise CourseError(f"give LAB ... or --all (labs: {', '.join(authored_labs(course.root)) or 'none'})")
    result = build(course.root, args.labs or None, check=args.check)
    for lab, state in result.items():
        print(f"{lab}: {state}")
    stale = [lab for lab, state in result.items() if state in ("differs", "missing")]
    if stale:
        print(f"build --check: {', '.join(stale)} not built from labs/authoring/: run "
              f"`mlsys-grade build {' '.join(stale)}` and commit the notebooks")
    return 1 if stale else 0


def cmd_release(args: argparse.Namespace, course: Course) -> int:
    if bool(args.lab) == bool(args.all):
        raise CourseError(f"give one LAB or --all (labs: {', '.join(course.labs())})")
    for lab in course.labs() if args.all else [args.lab]:
        print(f"released {lab} -> {course.generate_assignment(lab)}")
    return 0


def cmd_collect(args: argparse.Namespace, course: Course) -> int:
    from autograder.course.collect import collect

    res = collect(course, args.lab, args.source)
    print(f"collected {len(res['collected'])} submissions of {args.lab}: {', '.join(res['collected']) or 'none'}")
    for sid, notes in res["notes"].items():
        for n in notes:
            print(f"  note {sid}: {n}")
    for r in res["rejected"]:
        print(f"  rejected {r['file']}: {r['reason']}")
    return 0


def cmd_autograde(args: argparse.Namespace, course: Course) -> int:
    from autograder.course.batch import autograde

    out = (lambda m: print(m, file=sys.stderr, flush=True)) if args.json else (lambda m: print(m, flush=True))
    summary = autograde(course, args.lab, students=args.student, jobs=args.jobs, cell_timeout=args.timeout,
                        notebook_timeout=args.notebook_timeout, deadline=args.deadline, progress=out, force=args.force,
                        bar=sys.stderr.isatty())
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        print()
    return 0


def cmd_feedback(args: argparse.Namespace, course: Course) -> int:
    from autograder.course.feedback import feedback

    made = feedback(course, args.lab)
    print(f"wrote {len(made)} feedback pages under {course.root / 'feedback'}")
    return 0


def cmd_export(args: argparse.Namespace, course: Course) -> int:
    from autograder.course.report import export

    n = export(course, args.to, args.lab, fmt=args.format)
    print(f"wrote {n} rows to {args.to}")
    return 0


def cmd_summary(args: argparse.Namespace, course: Course) -> int:
    from autograder.course.report import class_summary, summary_html

    s = class_summary(course, args.lab)
    if args.check_variants:
        s["variant_check"] = check_variants(course, args.lab, sorted({x for v in s["hidden_failures"].values() for x in v}))
    page = summary_html(s, course.root / "grading" / f"{args.lab}-summary.html")
    if args.json:
        json.dump(s, sys.stdout, indent=2)
        print()
        return 0
    print(f"{s['lab']}: {s['students']} students, status {s['status']}, mean {s['mean_total']}/{s['max_total']}")
    for cell, d in s["score_distribution"].items():
        print(f"  {cell:<24} " + "  ".join(f"{pts} pts: {n}" for pts, n in d.items()))
    if s["most_common_failing_test"]:
        w = s["most_common_failing_test"]
        print(f"  most often failed: {w['test']} ({w['students']} students)")
    for sid, flags in s["flags"].items():
        print(f"  flag {sid}: {'; '.join(flags)}")
    for sid, reason in s["errors"].items():
        print(f"  error {sid}: {reason}")
    for cell, students in s["hidden_failures"].items():
        print(f"  {cell}: hidden tests failed after the visible ones passed: {', '.join(students)}")
    for sid, res in s.get("variant_check", {}).items():
        bad = res["failed"] or res["fatal"]
        print(f"  variant {res['variant']} of {sid}: " + (f"THE LAB'S OWN SOLUTION FAILS {bad}: a bug in the lab"
                                                            if bad else "the solution passes it"))
    print(f"wrote {page}")
    return 0


def check_variants(course: Course, lab: str, students: list[str]) -> dict:
    """The lab's solution on these students' variants (``autograder.qa.run --students``)."""
    import subprocess

    if not students:
        return {}
    res = subprocess.run([sys.executable, "-m", "autograder.qa.run", str(course.source_notebook(lab)), "--students",
                          ",".join(students), "--course", str(course.root)], capture_output=True, text=True,
                         timeout=3600)
    if res.returncode != 0:
        raise CourseError(f"checking the variants failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout)["students"]


def cmd_qa(args: argparse.Namespace, course: Course) -> int:
    from autograder.qa.check import qa_lab

    labs = args.labs or course.labs()
    out = (lambda m: print(m, file=sys.stderr, flush=True)) if args.json else (lambda m: print(m, flush=True))
    reports = [qa_lab(course, lab, jobs=args.jobs, progress=out, sample=args.sample,
                      nbgrader_mutants=args.nbgrader_mutants) for lab in labs]
    if args.json:
        json.dump(reports, sys.stdout, indent=2)
        print()
    bad = [r["lab"] for r in reports if not r["ok"]]
    print(f"qa: {len(reports) - len(bad)}/{len(reports)} labs OK" + (f"; failed: {', '.join(bad)}" if bad else ""),
          file=sys.stderr if args.json else sys.stdout)
    return 1 if bad else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    top, sub = args.course_top, getattr(args, "course_sub", None)
    if top is not None and sub is not None and top != sub:
        parser.exit(2, f"mlsys-grade {args.command}: error: --course given twice with different folders "
                       f"({top!r} before the command, {sub!r} after it): give it once\n")
    try:
        if not getattr(args, "needs_course", True):
            if top is not None or sub is not None:
                raise CourseError(f"{args.command} takes no --course (a class keeps its course in <dir>/course)")
            return args.func(args, None)
        return args.func(args, Course(sub or top or "labs"))
    except CourseError as exc:
        parser.exit(2, f"mlsys-grade {args.command}: error: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
