"""Every page is inert, hidden stays hidden, nothing is lost (autograder/submission/inert.py, the feedback
view in autograder/submission/repair.py, collect and export).

Fast: the sanitiser on exact cases and on hypothesis mixes of payloads (nothing active survives,
read by html5lib, a browser's parser) and of benign markdown and HTML (kept as written, or kept
in meaning); outputs, attachments and metadata; the feedback verdicts on synthetic tracebacks;
the exporter's own sanitising as the course config sets it. End to end on lab 0 through
`mlsys-grade collect/autograde/feedback/export`: a submission full of payloads, one that keeps the
inputs the hidden tests give it and shows them later, one bloated with 40 MB of metadata, and
rejected entries."""

from __future__ import annotations

import base64
import csv
import json
import re
from pathlib import Path

import nbformat
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograder.submission.inert import inert_notebook, inert_output
from autograder.submission.sanitize import benign_html, benign_markdown, clean_html, inert_markdown
from autograder.course.feedback import VERDICTS, feedback_view
from grading_helpers import FULL, LAB, cell, grade, new_course
from inert_payloads import (ANSWER_WORDS, CODE_LINE, active, hostile, html_payload, markdown_payload, svg_payload,
                            template_scripts, visible_text)

ROOT = Path(__file__).resolve().parents[1]
HIT = "http://127.0.0.1:9/hit"


def md_html(source: str) -> str:
    """A markdown source as nbconvert renders it (the formgrader's and feedback's markdown)."""
    from nbconvert.filters import markdown2html

    return markdown2html(source)


# ---- the sanitiser ----------------------------------------------------------------------------------------
def test_clean_html_exact():
    assert clean_html('<script>alert(1)</script><b onmouseover="alert(2)">x</b>') == "<b>x</b>"
    assert clean_html('<a href="javascript:alert(1)">x</a><a href="https://ok.org" onclick="y">z</a>'
                      '<a href="#sec">f</a><a href="data:text/html,x">d</a>') == \
        '<a>x</a><a href="https://ok.org">z</a><a href="#sec">f</a><a>d</a>'
    assert clean_html('<iframe src="https://evil.org">t</iframe><img src="data:image/png;base64,AAAA" onload="x">'
                      '<img src="/files/x.png"><img src="http://127.0.0.1/x">') == \
        't<img src="data:image/png;base64,AAAA"><img><img>'  # an iframe's text is kept as text
    assert clean_html('<table class="dataframe" border="1"><tr style="x"><th>a</th><td colspan="2">1</td></tr>'
                      '</table>') == ('<table class="dataframe" border="1"><tbody><tr><th>a</th><td colspan="2">1</td>'
                                      '</tr></tbody></table>')
    assert clean_html("<p id='x' name='y'>$\\href{javascript:x}{y}$</p>") == "<p>$\\text{javascript:x}{y}$</p>"


BENIGN_MD = [ANSWER_WORDS, "Some **bold** and *italic* words.", "A formula $a^2 + b^2 = c^2$ inline.",
             "$$\\sum_{i=1}^n x_i$$", "```python\nx = [1, 2]\nprint(x)\n```", "# A heading", "## Another heading",
             "* one\n* two", "1. first\n2. second", "> a quote", "| a | b |\n|---|---|\n| 1 | 2 |",
             "A [link](https://example.org) and [another](#section).", "`inline code` here", "a < b and b > a",
             "Numbers 3.5e12 and 10%."]
HOSTILE_MD = [markdown_payload(HIT), "<script>alert('s')</script>", "<img src=x onerror=alert('i')>",
              "[x](javascript:alert('l'))", "[x](JAVASCRIPT:alert('l2'))", "[x]( javascript:alert('l3'))",
              "[x](&#106;avascript:alert('l4'))", "[r]\n\n[r]: javascript:alert('ref')", "<javascript:alert('auto')>",
              "![i](http://127.0.0.1:9/img)", "![i](javascript:alert('img'))", "<iframe srcdoc='<script>x</script>'>",
              '<meta http-equiv="refresh" content="0;url=http://127.0.0.1:9/m">', "<a href='vbscript:x'>v</a>",
              "<a href='data:text/html;base64,PHNjcmlwdD4='>d</a>", "<svg><script>alert('svg')</script></svg>",
              "<math><mi xlink:href='javascript:alert(1)'>m</mi></math>", "<style>@import 'x';</style>",
              "<form action='http://x'><input></form>", "<base href='http://evil/'>", "<!--<script>x</script>-->",
              "<noscript><p title=\"</noscript><img src=x onerror=alert('mx')>\"></noscript>",
              "<scr<script>ipt>alert('nest')</script>", "$\\href{javascript:alert(1)}{x}$",
              "```mermaid\ngraph TD; A-->B\n```", "<div style='background:url(http://x)'>s</div>",
              "<details open ontoggle=alert('t')>", "<a href=\"java\tscript:alert('tab')\">t</a>"]


def assert_inert(source: str) -> None:
    """A (markdown or raw) source after the sanitiser: nothing active read as HTML, nor as
    nbconvert renders it, nor as a second markdown renderer (mistune's plain one) does."""
    import mistune

    for page in (source, md_html(source), mistune.html(source)):
        assert active(page) == [], (source, page)


@given(st.lists(st.sampled_from(BENIGN_MD + HOSTILE_MD), min_size=1, max_size=6))
def test_nothing_active_survives_a_mix_of_payloads(parts):
    source = "\n\n".join(parts)
    out = inert_markdown(source)
    assert_inert(out)
    assert inert_markdown(out) == out  # cleaning twice changes nothing
    text = visible_text(md_html(out))
    for p in parts:  # the honest words are still there to read
        if p in (ANSWER_WORDS, "Some **bold** and *italic* words."):
            assert p.replace("**", "").replace("*", "") in text


@given(st.lists(st.sampled_from(BENIGN_MD), min_size=1, max_size=6))
def test_benign_markdown_is_kept_as_written(parts):
    source = "\n\n".join(parts)
    assert benign_markdown(source) and inert_markdown(source) == source


INLINE = ["b", "i", "em", "strong", "code", "span", "sub", "sup"]
BLOCK = ["div", "blockquote"]
HOLDS_INLINE = ["p", "h2"]
ATTRS = st.dictionaries(st.sampled_from(["class", "title", "align"]),
                        st.text(alphabet="abc xyz-", min_size=1, max_size=8), max_size=2)
WORDS = st.text(alphabet="abcdefgh ijk,.$^=", min_size=1, max_size=12)


@st.composite
def benign_tree(draw, depth=0, inline=False):
    """Valid HTML of allowed tags and attributes (valid: a browser reads it as written)."""
    tag = draw(st.sampled_from(INLINE if inline else INLINE + BLOCK + HOLDS_INLINE))
    attrs = "".join(f' {k}="{v}"' for k, v in draw(ATTRS).items())
    child_inline = inline or tag not in BLOCK
    kid = WORDS if depth > 1 else st.one_of(WORDS, benign_tree(depth=depth + 1, inline=child_inline))
    inner = "".join(html_escape(k) for k in draw(st.lists(kid, max_size=3)))
    return f"<{tag}{attrs}>{inner}</{tag}>"


def html_escape(x: str) -> str:
    import html

    return html.escape(x, quote=False) if not x.startswith("<") else x


@given(st.lists(benign_tree(), min_size=1, max_size=3))
def test_benign_html_keeps_its_meaning(trees):
    page = "".join(trees)
    cleaned = clean_html(page)
    from autograder.submission.sanitize import _tokens

    assert _tokens(cleaned)[0] == _tokens(page)[0]  # the same tags, attributes and text
    assert benign_html(page)


def test_markdown_answer_is_rewritten_readable():
    out = inert_markdown(markdown_payload(HIT))
    assert out.startswith('<div class="mlsys-inert">') and "\n" not in out
    text = visible_text(md_html(out))
    assert ANSWER_WORDS in text and CODE_LINE in text and r"\frac{2 b n k}" in text
    assert_inert(out)


def test_outputs_of_every_kind():
    svg = svg_payload(HIT)
    stream = nbformat.v4.new_output("stream", name="stderr", text="<script>x</script>")
    error = nbformat.v4.new_output("error", ename="AssertionError", evalue="<b>x</b>",
                                   traceback=['  File "<test t>", line 3, in <module>\n', "<script>"])
    assert inert_output(stream) == [stream] and inert_output(stream)[0] is stream  # grade-deciding: untouched
    assert inert_output(error)[0] is error
    result = nbformat.v4.new_output("execute_result", data={"text/plain": "0.5", "application/javascript": "x"},
                                    execution_count=1)
    out = inert_output(result)
    assert out[0]["data"] == {"text/plain": "0.5"} and out[0]["execution_count"] == 1  # partial credit untouched
    assert out[1]["data"]["text/plain"].startswith("[removed from this notebook: application/javascript")
    shown = inert_output({"output_type": "display_data", "metadata": {"image/png": {"width": 3, "isolated": True},
                                                                      "text/html": {"isolated": True}},
                          "data": {"image/svg+xml": svg, "text/plain": "fallback", "image/png": "AAAA",
                                   "image/gif": "not base64 !", "text/latex": "$\\href{javascript:x}{y}$",
                                   "application/vnd.jupyter.widget-view+json": {"model_id": "m"},
                                   "application/pdf": "JVBERi0=", "text/vnd.mermaid": "graph TD; A-->B"}})
    data = shown[0]["data"]
    assert data["text/html"] == f'<img src="data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()}">'
    assert data["text/plain"] == "fallback" and data["image/png"] == "AAAA" and "image/gif" not in data
    assert data["text/latex"] == "$\\text{javascript:x}{y}$" and shown[0]["metadata"] == {"image/png": {"width": 3}}
    assert shown[1]["data"]["text/plain"] == (
        "[removed from this notebook: image/gif (not base64), application/vnd.jupyter.widget-view+json, "
        "application/pdf, text/vnd.mermaid (active or unknown content is not shown to the grader)]")
    md = inert_output({"output_type": "display_data", "metadata": {},
                       "data": {"text/markdown": "**hi** <script>alert(4)</script>"}})
    assert md[0]["data"]["text/markdown"] == '<div class="mlsys-inert"><p><strong>hi</strong> </p>&#10;</div>'
    html = inert_output({"output_type": "display_data", "metadata": {}, "data": {"text/html": html_payload(HIT)}})
    assert active(html[0]["data"]["text/html"]) == [] and "bold output text" in html[0]["data"]["text/html"]


def test_notebook_cells_attachments_and_metadata():
    nb = hostile(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("def param_count(cfg): ...", metadata={"nbgrader": {"grade_id": "param_count"}}),
        nbformat.v4.new_markdown_cell("YOUR ANSWER HERE", metadata={"nbgrader": {"grade_id": "q_decode_why"}})]),
        HIT)
    nb.cells[0].metadata["jupyter"] = {"source_hidden": True}
    nb.cells[-1].metadata["tags"] = ["ok-tag", "<bad>"]  # the answer
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    inert_notebook(nb)
    nbformat.validate(nb)
    assert nb.metadata == {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    code, shown, extra, raw, answer = nb.cells
    assert code.metadata == {"nbgrader": {"grade_id": "param_count"}}
    assert shown.metadata == {} and answer.metadata == {"nbgrader": {"grade_id": "q_decode_why"}, "tags": ["ok-tag"]}
    assert extra.attachments == {"pic.png": {"image/png": "iVBORw0KGgo="}}
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in extra.source and "bad.svg" not in extra.source
    assert raw.source == '<div class="mlsys-inert"><p>raw words</p></div>'
    for c in nb.cells:
        if c.cell_type != "code":
            assert_inert(c.source)
        for o in c.get("outputs", []):
            for mime, v in o.get("data", {}).items():
                assert mime in ("text/plain", "text/html", "text/markdown", "image/png")
                if mime != "text/plain":
                    assert active(md_html(v) if mime == "text/markdown" else v) == []
    again = nbformat.from_dict(nb)
    assert inert_notebook(again) == {"outputs": 0, "cells": 0, "attachments": 0, "metadata": 0} and again == nb


def test_exporter_sanitises_as_the_course_config_says():
    """Defence in depth: a notebook that was never made inert (autograded before InertNotebook was
    in the config) rendered by an HTMLExporter configured by labs/nbgrader_config.py as the
    formgrader's is (classic template) runs nothing of the student's."""
    from nbconvert import HTMLExporter
    from traitlets.config.loader import PyFileConfigLoader

    conf = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT / "labs")).load_config()
    assert conf.HTMLExporter.sanitize_html is True
    nb = hostile(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x", metadata={"nbgrader": {"grade_id": "param_count"}}, outputs=[
            nbformat.v4.new_output("display_data", data={"text/html": html_payload(HIT)}),
            nbformat.v4.new_output("display_data", data={"application/javascript": "alert('js')"}),
            nbformat.v4.new_output("display_data", data={"text/markdown": markdown_payload(HIT)})]),
        nbformat.v4.new_markdown_cell(markdown_payload(HIT))]), HIT)
    del nb.metadata["widgets"]  # the template would load a widget manager from a CDN: InertNotebook drops it
    nb.cells[1].metadata = {}
    exporter = HTMLExporter(config=conf, template_name="classic")
    page = exporter.from_notebook_node(nb)[0]
    empty = exporter.from_notebook_node(nbformat.v4.new_notebook())[0]
    assert active(page, template_scripts(empty)) == []
    assert ANSWER_WORDS in visible_text(page) and "bold output text" in page


# ---- the feedback view: verdicts only --------------------------------------------------------------------
def tcell(gid: str, source: str, error: str | None = None, line: int | None = None, score=0, points=2,
              printed: str = ""):
    c = nbformat.v4.new_code_cell(source, metadata={"nbgrader": {"grade_id": gid, "grade": True, "solution": False,
                                                                 "locked": True, "points": points, "score": score}})
    if printed:
        c.outputs.append(nbformat.v4.new_output("stream", name="stdout", text=printed))
    if error:
        c.outputs.append(nbformat.v4.new_output("error", ename=error, evalue="secret value 4242", traceback=[
            "Traceback (most recent call last):\n", f'  File "<test {gid}>", line {line}, in <module>\n',
            f"{error}: secret value 4242\n"]))
    return c


HIDDEN_SRC = "assert f(1) == 1\n### BEGIN HIDDEN TESTS\nassert f(2) == 2\nassert f(3) == 3\n### END HIDDEN TESTS\n"


def test_feedback_view_shows_verdicts_and_hides_what_ran_after_hidden_tests():
    student = nbformat.v4.new_code_cell("print(1)", outputs=[nbformat.v4.new_output("stream", name="stdout",
                                                                                    text="before 4242")])
    later = nbformat.v4.new_code_cell("print(SEEN)", outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="stash 4242"),
        nbformat.v4.new_output("error", ename="E", evalue="4242", traceback=["4242"])])
    nb = nbformat.v4.new_notebook(cells=[
        student,
        tcell("t_visible", "assert f(0) == 0\nassert f(9) == 9\n", "AssertionError", 2, printed="printed 4242"),
        tcell("t_pass", "assert f(0) == 0\n", score=2),
        tcell("t_hidden", HIDDEN_SRC, "AssertionError", 4, printed="4242"),
        later,
        tcell("t_hidden_visible", HIDDEN_SRC, "RemoteError", 1),
        tcell("t_timeout", HIDDEN_SRC, "TestTimeout", 3),
        tcell("t_marker", HIDDEN_SRC, "AssertionError", 2),  # the BEGIN marker line counts as hidden
        tcell("t_end", HIDDEN_SRC, "AssertionError", 5),
        tcell("t_unknown", HIDDEN_SRC, "AssertionError", None),
        tcell("t_by_hand", "assert f(0) == 0\n", score=1, points=2),
        nbformat.v4.new_markdown_cell("words 4242 a student wrote"),
    ])
    nb.cells[9].outputs[0]["traceback"] = ["Traceback\n", "AssertionError\n"]  # no frame of the test's own
    feedback_view(nb)
    said = {c.metadata["nbgrader"]["grade_id"]: "".join(o["text"] for o in c.outputs)
            for c in nb.cells if c.metadata.get("nbgrader")}
    assert said == {
        "t_visible": f"t_visible: {VERDICTS['visible']}\n", "t_pass": "t_pass: passed\n",
        "t_hidden": "t_hidden: failed in a hidden test\n",
        "t_hidden_visible": f"t_hidden_visible: {VERDICTS['visible']}\n",
        "t_timeout": "t_timeout: ran past its time limit\n", "t_marker": "t_marker: failed in a hidden test\n",
        "t_end": "t_end: failed in a hidden test\n", "t_unknown": "t_unknown: failed\n",
        "t_by_hand": "t_by_hand: scored 1 of 2 points\n"}
    assert VERDICTS["visible"] == "failed in the visible tests (run this cell in your notebook to see why)"
    assert student.outputs[0]["text"] == "before 4242"  # ran before any hidden test: kept
    assert [o["text"] for o in later.outputs] == [
        "[outputs not shown: this cell ran after the hidden tests of 't_hidden', and what it shows could quote "
        "their inputs]\n"]
    assert nb.cells[3].source == "assert f(1) == 1\n# t_hidden: 2 hidden test lines (not shown)"
    rest = json.dumps([c.get("outputs", []) for c in nb.cells[1:]]
                      + [c.source for c in nb.cells if c.cell_type == "code"])
    assert "4242" not in rest and "f(2)" not in rest


# ---- end to end on lab 0 ------------------------------------------------------------------------------------
MARK = "LE" + "AK<"  # what the stashing submission prints: never in its source as one string


def stashing(solved):
    """Keeps what the hidden tests pass its functions and shows it later: printed from a later
    cell, and returned into a hidden test's assertion message; its visible flops test fails and
    its `bound` runs forever on one hidden input. Honest work otherwise."""
    nb = cell(solved, "param_count", prepend="SEEN = []\n")
    nb = cell(nb, "param_count", source=nb.cells[[c.metadata.get("nbgrader", {}).get("grade_id")
                                                  for c in nb.cells].index("param_count")].source + (
        "\n_honest = param_count\n\ndef param_count(cfg):\n"
        "    SEEN.append('LE' + 'AK<%d,%d,%d>' % (cfg.layers, cfg.hidden, cfg.vocab))\n    return _honest(cfg)\n"))
    nb = cell(nb, "kv_bytes", source=(
        "def kv_bytes_per_token(cfg: TransformerConfig) -> int:\n"
        "    if cfg.layers == 3:  # a hidden test's own config: the answer is what was kept\n"
        "        return ' '.join(SEEN[:40])\n"
        "    return 2 * cfg.layers * cfg.n_kv_heads * cfg.head_dim * cfg.dtype_bytes\n"))
    nb = cell(nb, "flops", source="def forward_flops_per_token(cfg: TransformerConfig, context: int) -> int:\n    return 1\n")
    nb = cell(nb, "roofline", prepend="import time\n")
    src = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "roofline")
    nb = cell(nb, "roofline", source=src.replace(
        'return "compute" if', 'while intensity == 200.0 and peak_flops == 200.0:\n        time.sleep(0.1)\n'
                               '    return "compute" if'))
    return cell(nb, "decode_batch", prepend="print('stash:', ' '.join(SEEN[:40]))\n")


def bloated(solved):
    nb = nbformat.from_dict(solved)
    for c in nb.cells:
        c.metadata["extension-state"] = "m" * (1 << 20)
    nb.metadata["toc"] = "t" * ((40 - len(nb.cells)) << 20)  # 40 MiB of metadata in all
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    release, solved = new_course(root)
    inbox = tmp_path_factory.mktemp("inbox")
    nbformat.write(hostile(solved, HIT), inbox / "payload.ipynb")
    nbformat.write(stashing(solved), inbox / "stash.ipynb")
    big = nbformat.writes(bloated(solved))
    assert 38 << 20 < len(big) < 42 << 20  # 40 MB of metadata: over the 20 MiB cap
    (inbox / "bloated.ipynb").write_text(big)
    (inbox / "notes.txt").write_text("not a notebook")
    (inbox / "dave").mkdir()
    for name in ("a.ipynb", "b.ipynb"):
        nbformat.write(release, inbox / "dave" / name)
    res = grade("collect", LAB, str(inbox), course=root)
    assert res.returncode == 0, res.stderr
    res = grade("autograde", LAB, "--jobs", "2", "--timeout", "3", "--json", course=root)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = {r["student"]: r for r in json.loads(res.stdout)["results"]}
    res = grade("feedback", LAB, course=root)
    assert res.returncode == 0, res.stderr
    return root, summary


def autograded(root: Path, sid: str):
    return nbformat.read(root / "autograded" / sid / LAB / f"{LAB}.ipynb", as_version=4)


def by_gid(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def test_grades_are_what_the_code_earns(course):
    root, summary = course
    assert {s: (r["status"], r["score"]) for s, r in summary.items()} == {
        "payload": ("graded", FULL), "bloated": ("graded", FULL), "stash": ("graded", FULL - 6)}
    note, = summary["bloated"]["notes"]
    assert re.fullmatch(r"the notebook was 40\.0 MiB, over the cap of 20 MiB per notebook, because of its outputs and "
                        r"metadata: they were cleared before grading \([0-9.]+ KiB left; its code and text are as "
                        r"submitted\)", note), note
    assert summary["stash"]["cells"] == {"test_param_count": 3, "test_kv_bytes": 0, "test_flops": 0,
                                         "test_roofline": 0, "test_fit": 3, "test_decode_batch": 2, "q_decode_why": 0}


def test_the_autograded_notebook_is_inert_and_keeps_what_the_grader_reads(course):
    root, _ = course
    nb = autograded(root, "payload")
    assert nb.metadata.keys() <= {"kernelspec", "language_info"}
    for c in nb.cells:
        assert set(c.metadata) <= {"nbgrader", "tags"}
        if c.cell_type != "code":
            assert_inert(c.source)
            assert set(c.get("attachments", {}).get("pic.png", {})) <= {"image/png"}
        for o in c.get("outputs", []):
            for mime, v in o.get("data", {}).items():
                assert mime in ("text/plain", "text/html", "text/markdown", "image/png"), mime
                if mime == "text/html":
                    assert active(v) == [], v
                if mime == "text/markdown":
                    assert_inert(v)
    answer = by_gid(nb, "q_decode_why").source
    assert ANSWER_WORDS in visible_text(md_html(answer)) and CODE_LINE in visible_text(md_html(answer))
    # the instructor's view keeps every output of the stashing submission (inert), errors as the judge wrote them
    stash = autograded(root, "stash")
    assert MARK in "".join(o.get("text", "") for o in by_gid(stash, "decode_batch").outputs)
    err = next(o for o in by_gid(stash, "test_kv_bytes").outputs if o["output_type"] == "error")
    assert err["ename"] == "AssertionError" and MARK in err["evalue"]
    assert any('File "<test test_kv_bytes>", line' in t for t in err["traceback"])


def test_feedback_shows_verdicts_and_no_hidden_input(course):
    root, _ = course
    page = (root / "feedback" / "stash" / LAB / f"{LAB}.html").read_text()
    assert MARK not in page
    for gid, verdict in (("test_param_count", "passed"), ("test_kv_bytes", "failed in a hidden test"),
                         ("test_flops", "failed in the visible tests (run this cell in your notebook to see why)"),
                         ("test_roofline", "ran past its time limit"), ("test_fit", "passed"),
                         ("test_decode_batch", "passed")):
        assert f"{gid}: {verdict}" in page, gid
    assert page.count("[outputs not shown: this cell ran after the hidden tests of &#x27;test_param_count&#x27;") \
        + page.count("[outputs not shown: this cell ran after the hidden tests of 'test_param_count'") >= 5
    assert "_ref.param_count" not in page and "hidden test lines (not shown)" in page
    shown = (root / "feedback" / "payload" / LAB / f"{LAB}.html").read_text()
    assert active(shown, template_scripts(page)) == []  # the stashing one's page: the template's own scripts only
    assert ANSWER_WORDS in visible_text(shown)


def test_every_entry_has_a_row_in_the_export(course, tmp_path):
    root, _ = course
    assert grade("export", "--to", str(tmp_path / "g.csv"), course=root).returncode == 0
    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "g.csv"))}
    assert {s: (r["status"], float(r["total"])) for s, r in rows.items()} == {
        "payload": ("graded", FULL), "bloated": ("graded", FULL), "stash": ("graded", FULL - 6),
        "dave": ("rejected", 0.0), "notes.txt": ("rejected", 0.0)}
    assert rows["dave"]["reason"].startswith("ambiguous: 2 candidate files for student 'dave'")
    assert rows["dave"]["file"] == "dave/a.ipynb | dave/b.ipynb"
    assert rows["notes.txt"]["reason"] == "not a notebook (.ipynb)"
    res = grade("export", "--to", str(tmp_path / "c.csv"), "--format", "canvas", course=root)
    assert res.returncode == 0 and "1 files rejected at collect name no student" in res.stderr
    canvas = {r["SIS Login ID"]: r for r in csv.DictReader(open(tmp_path / "c.csv"))}
    assert set(canvas) == {"payload", "bloated", "stash", "dave"}
    assert canvas["dave"]["Notes"].startswith("lab0-costs: rejected at collect (ambiguous") and \
        canvas["dave"][LAB] == "0.0"
    assert canvas["payload"]["Notes"] == "" and float(canvas["payload"][LAB]) == FULL
    assert list(canvas["dave"])[:6] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Notes"]
