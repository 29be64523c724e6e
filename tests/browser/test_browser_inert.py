"""Every page is inert, in a real browser: a submission full of payloads (scripts and event
handlers in HTML outputs, a JavaScript output, an SVG with onload, a markdown answer with
``<img onerror>``, ``javascript:`` links, an iframe srcdoc, a meta refresh, widget state, a raw
HTML cell, hostile attachments and cell tags) is collected and autograded, then the formgrader's
manual-grading page for it and its feedback page are opened in headless Chromium. Each payload,
had it run, would set ``document.title`` or ``window.__mlsys_pwned``, open a dialog, or request
a URL of a local server that counts hits: none of that happens, and the answer's words, formula
and code are on the page."""

from __future__ import annotations

import http.server
import subprocess
import threading

import nbformat
import pytest
from jlab import BIN, shot

from autograder.qa.check import solution_submission
from inert_payloads import ANSWER_WORDS, CODE_LINE, hostile, js

LAB = "lab0-costs"
STUDENT = "inertstudent"

# what, in the parts of the page a submission wrote (rendered markdown and raw cells, outputs; not the
# formgrader's own score inputs and buttons), would run or load: active tags, event handlers, script URLs
SCAN = """() => {
    const found = [];
    const roots = [...document.querySelectorAll('.text_cell_render, .output_area, .output_subarea, .mlsys-inert')];
    if (roots.length < 5) return ['only ' + roots.length + ' rendered parts found'];
    for (const el of roots.flatMap(r => [...r.querySelectorAll('*')])) {
        const tag = el.tagName.toLowerCase();
        if (['script', 'iframe', 'frame', 'object', 'embed', 'form', 'input', 'button', 'meta', 'link', 'base',
             'style', 'svg', 'math', 'video', 'audio', 'template'].includes(tag)) found.push('<' + tag + '>');
        for (const a of el.attributes) {
            const v = a.value.replace(/[\\x00-\\x20]+/g, '').toLowerCase();
            if (a.name.startsWith('on') || a.name === 'srcdoc' || a.name === 'style')
                found.push(tag + '[' + a.name + '=' + a.value.slice(0, 30) + '] in .' + el.parentElement.className);
            else if (/^(javascript|vbscript|data:text)/.test(v)) found.push(tag + '[' + a.name + '=' + v + ']');
            else if (tag === 'img' && a.name === 'src' && !v.startsWith('data:image/')) found.push('img[' + v + ']');
        }
    }
    return found;
}"""


@pytest.fixture
def hits():
    """A local server that counts every request made to it: (its URL, the paths requested)."""
    seen: list[str] = []

    class Count(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Count)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hit", seen
    server.shutdown()
    server.server_close()


def watch(page) -> dict:
    """Dialogs and requests to the hit server, recorded as the page runs."""
    seen = {"dialogs": [], "requests": []}

    def on_dialog(d):
        seen["dialogs"].append(d.message)
        try:
            d.dismiss()
        except Exception:  # noqa: BLE001 - already dismissed (the page went on)
            pass

    page.on("dialog", on_dialog)
    page.on("request", lambda r: seen["requests"].append(r.url) if "/hit/" in r.url else None)
    return seen


def assert_ran_nothing(page, seen: dict, hit_paths: list[str], url: str) -> None:
    page.wait_for_timeout(2500)  # a meta refresh, a load handler or an image error would have fired by now
    assert seen["dialogs"] == [], seen["dialogs"]
    assert seen["requests"] == [] and hit_paths == [], (seen["requests"], hit_paths)
    assert page.evaluate("() => window.__mlsys_pwned === undefined")
    assert not page.title().startswith("PWNED"), page.title()
    assert page.url == url  # no refresh, no navigation
    assert page.evaluate(SCAN) == []


def test_formgrader_and_feedback_pages_run_nothing(page, lab_server, hits, tmp_path):
    hit, hit_paths = hits
    course = lab_server.root / "labs"
    release = course / "release" / LAB / f"{LAB}.ipynb"
    solved = solution_submission(course / "source" / LAB / f"{LAB}.ipynb", release)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    nbformat.write(hostile(solved, hit), inbox / f"{STUDENT}.ipynb")
    for args in (["collect", LAB, str(inbox)], ["autograde", LAB, "--student", STUDENT, "--timeout", "10"],
                 ["feedback", LAB]):
        res = subprocess.run([str(BIN / "mlsys-grade"), *args, "--course", str(course)], capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr
    assert hit_paths == []  # grading requested nothing either

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        submission = gb.find_submission_notebook(LAB, LAB, STUDENT).id

    # the instructor's manual-grading page: every output kept, none of it active
    seen = watch(page)
    url = lab_server.url(f"formgrader/submissions/{submission}/")
    page.goto(url)
    page.locator("#notebook-container").first.wait_for(timeout=60_000)
    page.get_by_text(ANSWER_WORDS).first.wait_for(timeout=60_000)
    assert_ran_nothing(page, seen, hit_paths, url)
    text = "\n".join(page.locator("#notebook-container").all_inner_texts())
    assert ANSWER_WORDS in text and CODE_LINE in text and "frac{2 b n k}" in text
    assert "bold output text" in text and "raw words" in text
    assert "[removed from this notebook: application/javascript" in text
    # the formgrader's exporter sanitised too (the course config's markdown2html filter, as nbgrader's formgrade
    # template renders markdown cells without clean_html): nbconvert gives a heading an id, the allow-list none
    assert page.evaluate("() => document.querySelectorAll('.text_cell_render h2').length") > 3
    assert page.evaluate("() => [...document.querySelectorAll('.text_cell_render [id]')].map(e => e.id)") == []
    page.get_by_text(ANSWER_WORDS).first.scroll_into_view_if_needed()
    shot(page, "inert-formgrader-submission")

    # the student's feedback page
    feedback = course / "feedback" / STUDENT / LAB / f"{LAB}.html"
    url = feedback.as_uri()
    page.goto(url)
    page.get_by_text(ANSWER_WORDS).first.wait_for(timeout=60_000)
    assert_ran_nothing(page, seen, hit_paths, url)
    text = page.inner_text("body")
    assert "test_param_count: passed" in text and CODE_LINE in text
    page.get_by_text(ANSWER_WORDS).first.scroll_into_view_if_needed()
    shot(page, "inert-feedback")

    # the control: the same kinds of payload on a page nobody cleaned do run, and this test sees them
    from nbconvert import HTMLExporter

    raw = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(f'<img src="x" onerror="{js("control-md", hit)}">'),
        nbformat.v4.new_code_cell("x", outputs=[
            nbformat.v4.new_output("display_data",
                                   data={"text/html": f"<script>{js('control-html', hit)}</script>"})])])
    control = tmp_path / "control.html"
    control.write_text(HTMLExporter(template_name="classic").from_notebook_node(raw)[0])
    page.goto(control.as_uri())
    page.wait_for_timeout(2500)
    assert page.evaluate("() => window.__mlsys_pwned") and page.title().startswith("PWNED")
    assert {"control-md", "control-html"} <= set(seen["dialogs"]), seen["dialogs"]
    assert {"/hit/control-md", "/hit/control-html"} <= set(hit_paths), hit_paths
