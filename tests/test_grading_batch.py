"""The batch (a class-sized run of lab 0 at --jobs 2 with killed and hung workers and a killed
grader), the repair of honest notebooks by grade id, the output cap, and feedback pages without
active content."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import nbformat

from autograder.qa.check import apply_mutant, load_mutant
from grading_helpers import BIN, FULL, LAB, MAX, ROOT, cell, grade, new_course


HONEST = {"solution": FULL, "stub": 0.0, "no-biases": 8.0, "kv-only-keys": 9.0}
N = 28  # not 200: a lab-0 submission costs ~4 CPU-seconds, and this test must stay near 2 minutes on 2 cores
DEADLINE = 70
SHM_WRITER = ("import os\nfor _n in os.listdir('/dev/shm'):\n    try:\n        with open('/dev/shm/' + _n, 'r+b') as _f:\n"
              "            _f.write(b'\\xff' * 64)\n    except OSError:\n        pass\n"
              "open('/dev/shm/sem.mp-forged', 'wb').write(b'\\xff' * 4096)\n")


def children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        try:
            if d.isdigit() and int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return out


def is_worker(pid: int) -> bool:
    try:
        return b"--worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        out += kids
        todo += kids
    return out


def is_sandbox(pid: int) -> bool:
    try:
        return b"autograder.submission.sandbox" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def shm_maps(pid: int) -> list[str]:
    try:
        return [line for line in Path(f"/proc/{pid}/maps").read_text().splitlines() if "/dev/shm" in line]
    except OSError:
        return []


def test_batch_survives_a_hung_worker_a_killed_worker_and_a_killed_grader(tmp_path):
    """A class-sized batch at --jobs 2: one submission writes into every file it finds in
    /dev/shm (where a process pool keeps its semaphores; the sandbox's own is private). Run 1:
    a worker is killed (interrupted), then the grader itself. Run 2 grades only what was missing
    while one of its workers hangs (stopped: the parent's deadline kills its tree and records
    why); every other submission has its honest score. Neither the grader nor a worker maps
    anything in /dev/shm at any time."""
    course = tmp_path / "class"
    course.mkdir()
    release, solved = new_course(course)
    kinds = {
        "solution": solved, "stub": release,
        "no-biases": apply_mutant(solved, "m", load_mutant(ROOT / "autograder/mutants" / LAB / "no_biases.py")[1]),
        "kv-only-keys": apply_mutant(solved, "m", load_mutant(ROOT / "autograder/mutants" / LAB / "kv_only_keys.py")[1]),
        # hostile twins: each must score exactly its honest version
        "stub+transformer": cell(release, "param_count", "get_ipython().input_transformers_cleanup.append(\n"
                                 "    lambda lines: [l for l in lines if 'assert' not in l])\n"),
        "stub+forged": cell(release, "param_count", "import os\nos.write(1, b'MLSYS-RESULT x {}\\n')\n"),
        "solution+shm-writer": cell(solved, "kv_bytes", prepend=SHM_WRITER),
    }
    honest = HONEST | {"stub+transformer": 0.0, "stub+forged": 0.0, "solution+shm-writer": FULL}
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    names = list(kinds)
    expected = {}
    for i in range(N):
        kind = names[i % len(names)]
        (inbox / f"s{i:03d}.ipynb").write_text(nbformat.writes(kinds[kind]))
        expected[f"s{i:03d}"] = honest[kind]
    assert grade("collect", LAB, str(inbox), course=course).returncode == 0
    log_path = course / "grading" / f"{LAB}.json"

    def records() -> dict:
        try:
            return json.loads(log_path.read_text())["students"]
        except (OSError, ValueError):
            return {}

    def done() -> int:
        return sum(1 for r in records().values() if r.get("status") in ("graded", "error", "interrupted"))

    args = ["autograde", LAB, "--jobs", "2", "--timeout", "10", "--notebook-timeout", "60", "--deadline", str(DEADLINE)]
    shm_seen: list[str] = []

    def run_batch(name: str, act) -> subprocess.Popen:
        """Run the grader with stdout and stderr in files (nothing can fill up and block), calling
        act(proc, graded so far, workers) every 0.3 s until it exits (or act returns True)."""
        with open(tmp_path / f"{name}.out", "w") as out, open(tmp_path / f"{name}.err", "w") as err:
            proc = subprocess.Popen([str(BIN / "mlsys-grade"), *args, "--json", "--course", str(course)], stdout=out,
                                    stderr=err, text=True)
            try:
                stop = time.time() + 800
                while proc.poll() is None and time.time() < stop:
                    time.sleep(0.3)
                    workers = [p for p in children(proc.pid) if is_worker(p)]
                    for p in [proc.pid, *workers]:
                        shm_seen.extend(shm_maps(p))
                    if act(proc, done(), workers):
                        break
            finally:
                if proc.poll() is None and time.time() >= stop:
                    proc.kill()
                proc.wait()
        return proc

    # run 1: a worker is killed, then the grader
    killed: list[int] = []

    def kill_worker_then_grader(proc, n, workers) -> bool:
        running = [w for w in workers if any(is_sandbox(c) for c in descendants(w))]
        if not killed and n >= 3 and running:
            killed.append(running[0])
            os.kill(running[0], signal.SIGKILL)  # the worker dies while it grades
        elif killed and n >= 12:
            proc.kill()  # the grader itself; its workers die with it
            return True
        return False

    run_batch("run1", kill_worker_then_grader)
    out1 = (tmp_path / "run1.err").read_text()
    assert killed, out1[-3000:]
    before = records()
    assert [r["reason"] for r in before.values() if r.get("status") == "interrupted"] == [
        "the grading worker died (signal 9) while grading it: run autograde again to grade this submission"]
    assert 11 <= sum(1 for r in before.values() if r.get("status") in ("graded", "error")) < N - 4
    lines = [ln for ln in out1.splitlines() if ln.strip()]
    assert lines and all(re.fullmatch(rf"\[\d+/{N}\] s\d{{3}}: [\d.]+/{MAX:g} (graded|interrupted)( \(.*\))?", ln)
                         for ln in lines), lines  # one line per submission, nothing else (no SAWarning paragraphs)

    # run 2: grades only what was missing; one of its workers hangs and is killed at the deadline
    hung: list[int] = []

    def hang_a_worker(proc, n, workers) -> bool:
        running = [w for w in workers if any(is_sandbox(c) for c in descendants(w))]
        if not hung and running:
            hung.append(running[0])  # while its sandbox runs (not while it holds a gradebook lock)
            os.kill(running[0], signal.SIGSTOP)  # the worker hangs: only the parent's deadline can end it
        return False

    proc = run_batch("run2", hang_a_worker)
    err2 = (tmp_path / "run2.err").read_text()
    assert proc.returncode == 0 and hung, err2[-3000:]
    assert not Path(f"/proc/{hung[0]}").exists()  # the hung worker was killed, and reaped
    summary = json.loads((tmp_path / "run2.out").read_text())
    assert summary["submissions"] == N and summary["kept"] == sum(
        1 for r in before.values() if r.get("status") in ("graded", "error"))  # only what was missing was graded
    assert len(summary["errors"]) == 1, summary["errors"]
    stuck = summary["errors"][0]["student"]
    assert summary["errors"][0]["reason"] == (f"grading took longer than the deadline of {DEADLINE} s: its worker "
                                              "was killed with its whole process tree")
    scores = {r["student"]: r["score"] for r in summary["results"]}
    assert scores == expected | {stuck: 0.0}  # nothing lost, no hostile submission above its honest score
    assert "Warning" not in out1 + err2, err2[-2000:]
    assert shm_seen == []  # neither the grader nor a worker mapped anything in /dev/shm, in either run

    # the hung one, graded again on purpose
    res = grade(*args, "--json", "--student", stuck, "--force", course=course)
    assert res.returncode == 0, res.stderr[-3000:]
    assert [(r["student"], r["status"], r["score"]) for r in json.loads(res.stdout)["results"]] == [
        (stuck, "graded", expected[stuck])]
    assert grade("export", "--to", str(tmp_path / "grades.csv"), course=course).returncode == 0
    assert len((tmp_path / "grades.csv").read_text().splitlines()) == N + 1


# ---- honest work is never lost: repair by grade id (autograder.submission.repair) ------------------------
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from autograder.submission.repair import repair  # noqa: E402
from autograder.submission.steps import cap_outputs  # noqa: E402


def lab_source():
    return nbformat.read(ROOT / "labs" / "source" / LAB / f"{LAB}.ipynb", as_version=4)


def gids(nb) -> list:
    return [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]


def by_gid(nb, gid: str):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def student_cell(text: str):
    return nbformat.v4.new_code_cell(text)


def test_repair_leaves_an_untouched_notebook_alone():
    src, sub = lab_source(), lab_source()
    before = nbformat.writes(sub)
    assert repair(sub, src, src) == []
    assert nbformat.writes(sub) == before


def test_repair_duplicated_cells():
    src, sub = lab_source(), lab_source()
    i = gids(sub).index("test_kv_bytes")
    edited = nbformat.from_dict(sub.cells[i])
    edited.source += "\nprint('my own check')"
    j = gids(sub).index("param_count")
    answer2 = nbformat.from_dict(sub.cells[j])
    answer2.source = "def param_count(cfg):\n    return 42\n"
    sub.cells[i + 1:i + 1] = [nbformat.from_dict(sub.cells[i]), edited]  # a pasted copy and an edited copy
    sub.cells.insert(j + 1, answer2)
    notes = repair(sub, src, src)
    assert notes == [
        "solution cell 'param_count' appeared 2 times (copy-pasted): every copy runs in the student's order; the "
        "last edited one is the graded answer",
        "test cell 'test_kv_bytes' appeared 3 times (copy-pasted): graded once, as the instructor wrote it"]
    assert [g for g in gids(sub) if g] == [g for g in gids(src) if g]  # each graded cell once, in the lab's order
    assert by_gid(sub, "param_count").source == answer2.source  # the last edited copy is the answer
    plain = [c for c in sub.cells if not c.metadata.get("nbgrader")]
    assert [c.source for c in plain] == [by_gid(src, "param_count").source, edited.source]  # nothing lost


def test_repair_moved_and_deleted_cells():
    src, sub = lab_source(), lab_source()
    i = gids(sub).index("test_param_count")
    moved = sub.cells.pop(i)
    helper = student_cell("def helper():\n    return 1")
    sub.cells[0:0] = [moved, helper]  # the test and a cell of the student's after it, dragged to the top
    sub.cells = [c for c in sub.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_fit"]
    notes = repair(sub, src, src)
    assert notes == [
        "cells out of the lab's order were put back in place, each with the student's cells that followed it: "
        "'test_param_count'",
        "test cell 'test_fit' was deleted: the instructor's version was put back and graded"]
    assert [g for g in gids(sub) if g] == [g for g in gids(src) if g]
    k = gids(sub).index("test_param_count")
    assert sub.cells[k + 1].source == helper.source  # the student's cell travelled with it


def test_repair_odd_metadata_and_unknown_grade_ids():
    src, sub = lab_source(), lab_source()
    for c in sub.cells:
        meta = c.metadata.get("nbgrader")
        if meta:
            meta["schema_version"] = 1  # an older nbgrader
            meta.pop("task", None)
            if "points" in meta:
                meta["points"] = str(meta["points"])
    sub.cells.append(student_cell("x = 1"))
    sub.cells[-1].metadata["nbgrader"] = {"grade_id": "bonus", "grade": True, "points": 100, "solution": False}
    notes = repair(sub, src, src)
    more = sum(1 for c in src.cells if c.metadata.get("nbgrader")) - 5  # every cell of the lab differed
    assert notes[0].startswith("nbgrader metadata of 'intro', 'setup', 'md-params', 'param_count', "
                               f"'test_param_count' and {more} more differed from the release"), notes[0]
    assert notes[1] == "cells with grade ids this lab does not have ('bonus'): graded as ordinary cells"
    for c in sub.cells[:-1]:
        g = c.metadata["nbgrader"]["grade_id"]
        assert c.metadata["nbgrader"] == by_gid(src, g).metadata["nbgrader"]
    assert "nbgrader" not in sub.cells[-1].metadata


def _sections(nb) -> list[list[int]]:
    """Cell indices of the lab's sections: the opening cells, then one section per "md-" heading."""
    starts = [0] + [i for i, g in enumerate(gids(nb)) if g and g.startswith("md-")]
    return [list(range(a, b)) for a, b in zip(starts, starts[1:] + [len(nb.cells)])]


SECTIONS = _sections(lab_source())  # lab 0: 7 (the opening, five functions, the design question)


@given(st.permutations(range(len(SECTIONS))), st.lists(st.integers(0, sum(map(len, SECTIONS)) - 1), max_size=4))
def test_repair_restores_the_lab_order_whatever_the_student_did(order, copies):
    """Shuffle the lab's sections (each a graded cell and a student's cell after it), paste
    copies of random graded cells: the repaired notebook has every graded cell once, in the
    lab's order, and every cell the student wrote."""
    src, sub = lab_source(), lab_source()
    blocks = [[c, student_cell(f"mine_{i} = {i}")] for i, c in enumerate(sub.cells)]
    sections = [[blocks[i] for i in section] for section in SECTIONS]
    shuffled = [b for k in order for b in sections[k]]
    cells = [c for b in shuffled for c in b]
    for n in copies:
        cells.insert(n, nbformat.from_dict(sub.cells[n]))
    sub.cells = cells
    repair(sub, src, src)
    assert [g for g in gids(sub) if g] == [g for g in gids(src) if g]
    mine = sorted(c.source for c in sub.cells if c.source.startswith("mine_"))
    assert mine == sorted(f"mine_{i} = {i}" for i in range(len(src.cells)))


def test_cap_outputs_keeps_every_grade():
    """Past the cap, outputs are dropped or cut but nbgrader's own grading of each test cell
    (nbgrader.utils.determine_grade) is the same as before."""
    from nbgrader.utils import determine_grade

    nb = lab_source()
    big = {f"text/x-{i}": "y" * 200_000 for i in range(40)}  # 8 MB in one output
    by_gid(nb, "param_count").outputs = [nbformat.v4.new_output("display_data", data=big)]
    by_gid(nb, "test_param_count").outputs = [nbformat.v4.new_output("stream", name="stderr", text="e" * 3_000_000)]
    by_gid(nb, "test_kv_bytes").outputs = [nbformat.v4.new_output("stream", name="stdout", text="o" * 10)]
    by_gid(nb, "test_flops").outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="x" * 99_999,
                                                               traceback=["t" * 50_000] * 30)]
    by_gid(nb, "test_roofline").outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "0.5"},
                                                                  execution_count=1)]
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    before = [determine_grade(c) for c in tests]
    total, dropped, cut = cap_outputs(nb, 1 << 20)
    assert (dropped, cut) == (1, 2) and total > 10_000_000
    assert [determine_grade(c) for c in tests] == before == [(0, 3.0), (2.0, 2.0), (0, 2.0), (0.5, 2.0), (3.0, 3.0),
                                                             (2.0, 2.0), (None, 2.0)]  # None: graded by hand
    assert len(json.dumps([c.get("outputs", []) for c in nb.cells])) < 1 << 20
    assert by_gid(nb, "param_count").outputs[0].text.startswith("[1 outputs dropped")


# ---- feedback pages carry no active content (autograder.course.feedback.SafeFeedback) ------------------------
from html.parser import HTMLParser  # noqa: E402

from autograder.submission.inert import inert_output  # noqa: E402
from autograder.course.feedback import SafeFeedback  # noqa: E402
from autograder.submission.sanitize import clean_html  # noqa: E402

ACTIVE_TAGS = {"script", "iframe", "object", "embed", "frame", "frameset", "applet", "base", "form", "meta", "link",
               "style", "svg", "math"}


class ActiveContent(HTMLParser):
    """A second reading of a page: every tag, event handler and script URL it would run."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        if tag in ACTIVE_TAGS:
            self.found.append(f"<{tag}>")
        self._in_script = tag == "script"
        for name, value in attrs:
            import html as h
            import re

            url = re.sub(r"[\x00-\x20]+", "", h.unescape(value or "")).lower()
            if name.startswith("on"):
                self.found.append(f"{tag}[{name}]")
            if url.startswith(("javascript:", "vbscript:", "data:text")):
                self.found.append(f"{tag}[{name}={url[:20]}]")

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data.strip())

    def handle_endtag(self, tag):
        self._in_script = False


def active(page: str) -> list[str]:
    p = ActiveContent()
    p.feed(page)
    return p.found


HOSTILE_HTML = ['<script>alert(1)</script>', '<img src=x onerror="alert(2)">', '<iframe src="javascript:alert(3)">',
                '<a href="jav&#x61;script:alert(4)">x</a>', '<object data="x.swf"></object>', '<embed src="x">',
                '<svg onload="alert(5)"><circle r="1"/></svg>', '<b onmouseover=alert(6)>Bold1</b>',
                '<a href=" javascript:alert(7)">y</a>', '<form action="http://x"><input></form>',
                '<style>body{background:url(http://x)}</style>', '<math><mi xlink:href="javascript:alert(8)">m</mi></math>',
                '<IMG SRC="data:text/html;base64,PHNjcmlwdD4=">', '<div style="x" title="t">Ok1</div>', '<p>Plain1</p>',
                '<table><tr><td colspan="2">Cell1</td></tr></table>', '<a href="https://example.org">Link1</a>']


def test_clean_html_exact():
    assert clean_html('<script>alert(1)</script><b onmouseover="alert(2)">x</b>') == "<b>x</b>"
    assert clean_html('<a href="javascript:alert(1)">x</a><a href="https://ok.org" onclick="y">z</a>') == \
        '<a>x</a><a href="https://ok.org">z</a>'
    assert clean_html('<iframe src="https://evil.org"></iframe><img src="data:image/png;base64,AAAA" onload="x">') \
        == '<img src="data:image/png;base64,AAAA">'


@given(st.lists(st.sampled_from(HOSTILE_HTML), min_size=1, max_size=6), st.sampled_from(["", "<div>", "<td>"]))
def test_clean_html_leaves_nothing_active(fragments, wrapper):
    cleaned = clean_html(wrapper + "".join(fragments))
    assert active(cleaned) == []
    for safe in ("Plain1", "Cell1", "Link1", "Bold1", "Ok1"):  # inert text survives
        if any(safe in f for f in fragments):
            assert safe in cleaned


def test_safe_output_every_mime_that_renders_as_html():
    svg = '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
    out, note = inert_output({"output_type": "display_data", "metadata": {"image/png": {"width": 3, "filenames": "x"}},
                              "data": {"image/svg+xml": svg, "application/javascript": "alert(3)",
                                       "application/vnd.jupyter.widget-view+json": {"model_id": "m"},
                                       "text/markdown": "**hi** <script>alert(4)</script>", "text/plain": "fallback",
                                       "image/png": "AAAA\" onerror=\"alert(5)"}})
    assert set(out["data"]) == {"text/html", "text/plain", "text/markdown"} and out["metadata"] == {}
    import base64 as b64

    assert out["data"]["text/html"] == f'<img src="data:image/svg+xml;base64,{b64.b64encode(svg.encode()).decode()}">'
    assert note["data"]["text/plain"].startswith("[removed from this notebook: application/javascript, "
                                                 "application/vnd.jupyter.widget-view+json, image/png (not base64)")
    gone = inert_output({"output_type": "execute_result", "data": {"application/javascript": "alert(1)"},
                         "metadata": {}, "execution_count": 1})
    assert [o["data"] for o in gone] == [{"text/plain": "[removed from this notebook: application/javascript (active "
                                                        "or unknown content is not shown to the grader)]"}]
    md, = inert_output({"output_type": "display_data", "metadata": {},
                        "data": {"text/markdown": "**hi** <script>alert(4)</script>"}})
    assert md["data"] == {"text/markdown": '<div class="mlsys-inert"><p><strong>hi</strong> </p>&#10;</div>'}


def test_feedback_page_runs_only_the_templates_own_scripts():
    """Render with nbgrader's feedback template: a page of a hostile notebook, after SafeFeedback,
    has no script beyond those of an empty notebook's page; without SafeFeedback it has."""
    from nbconvert import HTMLExporter

    from autograder.course.batch import quiet_nbgrader

    quiet_nbgrader()
    import nbgrader

    formgrader = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader"
    css = formgrader / "static" / "node_modules" / "bootstrap" / "dist" / "css"

    def page(nb) -> str:  # as nbgrader's GenerateFeedback configures its exporter
        exporter = HTMLExporter(template_name="feedback", extra_template_basedirs=[str(formgrader / "templates")],
                                extra_template_paths=[str(css)])
        return exporter.from_notebook_node(nb, resources={"nbgrader": {"notebook": "n", "assignment": "a",
                                                                       "student": "s", "score": 0, "late_penalty": 0,
                                                                       "max_score": 0}})[0]

    def scripts(html: str) -> list[str]:
        p = ActiveContent()
        p.feed(html)
        return p.scripts

    empty = nbformat.v4.new_notebook()
    hostile = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("my answer <script>alert('md')</script><img src=x onerror=alert('md2')>"),
        nbformat.v4.new_code_cell("x", outputs=[
            nbformat.v4.new_output("display_data", data={"text/html": "<script>alert('html')</script>"}),
            nbformat.v4.new_output("display_data", data={"image/svg+xml": '<svg onload="alert(1)"></svg>'}),
            nbformat.v4.new_output("display_data", data={"application/javascript": "alert('js')"}),
            nbformat.v4.new_output("display_data", data={"text/html": '<iframe src="javascript:alert(2)"></iframe>'
                                                                      '<a href="javascript:alert(3)">a</a>'})])])
    raw = page(nbformat.from_dict(hostile))
    unprotected = "\n".join(scripts(raw))  # what the page runs without SafeFeedback
    assert all(f"alert('{x}')" in unprotected for x in ("md", "html", "js"))
    safe_nb, _ = SafeFeedback().preprocess(nbformat.from_dict(hostile), {})
    safe = page(safe_nb)
    assert sorted(scripts(safe)) == sorted(scripts(page(empty)))
    assert [a for a in active(safe) if a != "<script>" and a != "<style>" and a != "<meta>" and a != "<link>"] == []
    assert "<iframe" not in safe and 'href="javascript' not in safe  # left only as escaped text, if at all
    assert "my answer" in safe
