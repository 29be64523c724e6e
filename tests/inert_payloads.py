"""Active-content payloads a submission can carry into the pages an instructor opens, and an
independent reading of a page (html5lib, a browser's parser) that finds what would run.

Shared by tests/test_inert.py and tests/browser/test_browser_inert.py. Every payload, if it
ran, would set ``document.title`` to ``PWNED ...``, set ``window.__mlsys_pwned``, open a
dialog, or request ``HIT/<name>`` (the browser test serves HIT and counts requests)."""

from __future__ import annotations

import html as html_lib
import json
import re

import nbformat

ANSWER_WORDS = "Decode reads every weight once per step"  # the answer's words: must stay readable
FORMULA = r"$\frac{2 b n k}{2 (b k + k n + b n)}$"
CODE_LINE = "intensity = 2 * b * n * k"


def js(where: str, hit: str) -> str:
    """JavaScript that, if it ever ran, leaves four traces."""
    return (f"document.title='PWNED {where}';window.__mlsys_pwned='{where}';"
            f"fetch('{hit}/{where}').catch(function(){{}});alert('{where}')")


def html_payload(hit: str) -> str:
    q = html_lib.escape  # for a script inside an attribute
    return "".join([
        f"<script>{js('html-script', hit)}</script>",
        f'<b onmouseover="{q(js("html-handler", hit))}">bold output text</b>',
        f'<img src="x" onerror="{q(js("html-onerror", hit))}">',
        f'<img src="{hit}/html-img">',
        f'<iframe srcdoc="{q("<script>" + js("html-srcdoc", hit) + "</script>")}"></iframe>',
        f'<iframe src="{hit}/html-iframe"></iframe>',
        f'<meta http-equiv="refresh" content="0;url={hit}/html-meta">',
        f'<link rel="stylesheet" href="{hit}/html-link">',
        f"<style>@import url({hit}/html-style);</style>",
        f'<a href="javascript:{q(js("html-link", hit))}">a javascript link</a>',
        f'<a href=" JaVaScRiPt:{q(js("html-link2", hit))}">a spaced link</a>',
        f'<form action="{hit}/html-form"><button formaction="javascript:{q(js("html-formaction", hit))}">b</button>'
        f'<input autofocus onfocus="{q(js("html-onfocus", hit))}"></form>',
        f'<object data="{hit}/html-object"></object><embed src="{hit}/html-embed">',
        f'<svg onload="{q(js("html-svg", hit))}"><image href="{hit}/html-svgimage"/></svg>',
        f'<details open ontoggle="{q(js("html-ontoggle", hit))}"><summary>s</summary>d</details>',
        f'<video><source onerror="{q(js("html-video", hit))}"></video>',
        f'<div style="background:url({hit}/html-css-url)">styled</div>',
    ])


def svg_payload(hit: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'onload="{html_lib.escape(js("svg-onload", hit))}"><script>{js("svg-script", hit)}</script>'
            f'<image xlink:href="{hit}/svg-image" width="5" height="5"/><circle r="3"/></svg>')


def markdown_payload(hit: str) -> str:
    """A markdown answer: honest words, a formula and a code block, then every kind of payload."""
    q = html_lib.escape
    return "\n".join([
        f"{ANSWER_WORDS}: decode is memory-bound, since the intensity is {FORMULA}.",
        "",
        "```python",
        CODE_LINE,
        "```",
        "",
        f'<img src="x" onerror="{q(js("md-onerror", hit))}">',
        "",
        "[a javascript link](javascript:window.__mlsys_pwned='md-link')",
        f"[a reference link][evil] and <javascript:alert('md-autolink')> and ![an image]({hit}/md-image)",
        "",
        f"[evil]: javascript:alert('md-reference')",
        "",
        f'<iframe srcdoc="{q("<script>" + js("md-srcdoc", hit) + "</script>")}"></iframe>',
        f'<meta http-equiv="refresh" content="0;url={hit}/md-meta">',
        f"<script>{js('md-script', hit)}</script>",
        f'<a href="jav&#x61;script:{q(js("md-entity", hit))}">entity link</a>',
    ])


def display_cell(hit: str) -> str:
    """A student code cell that displays every active MIME type."""
    widget = json.dumps({"model_id": "0" * 32, "version_major": 2, "version_minor": 0})
    return "\n".join([
        "from IPython.display import display",
        f"display({{'text/html': {html_payload(hit)!r}, 'text/plain': 'html output'}}, raw=True)",
        f"display({{'application/javascript': {js('js-output', hit)!r}, 'text/plain': 'js output'}}, raw=True)",
        f"display({{'image/svg+xml': {svg_payload(hit)!r}}}, raw=True)",
        f"display({{'text/markdown': {markdown_payload(hit)!r}}}, raw=True)",
        f"display({{'application/vnd.jupyter.widget-view+json': {widget!r}, 'text/plain': 'a widget'}}, raw=True)",
        f"display({{'text/html': '<i>plain italic output</i>', 'text/plain': 'plain'}}, raw=True)",
    ])


def widget_state(hit: str) -> dict:
    model = {"model_name": "HTMLModel", "model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0",
             "state": {"value": f'<img src=x onerror="{html_lib.escape(js("widget-state", hit))}">'}}
    return {"application/vnd.jupyter.widget-state+json": {"state": {"0" * 32: model}, "version_major": 2,
                                                           "version_minor": 0}}


def hostile(nb, hit: str, answer_id: str = "q_decode_why", display_after: str = "param_count"):
    """A copy of the (solved) notebook ``nb`` carrying every payload: outputs from a cell added after
    ``display_after``, the answer ``answer_id`` in markdown, an extra markdown cell with
    attachments, a raw HTML cell, cell metadata and notebook widget state."""
    nb = nbformat.from_dict(nb)
    gid = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == answer_id:
            c.source = markdown_payload(hit)
    shown = nbformat.v4.new_code_cell(display_cell(hit))
    shown.metadata["tags"] = ['"><script>' + js("cell-tag", hit) + "</script>"]
    shown.metadata["transient"] = {"remove_source": True}
    extra = nbformat.v4.new_markdown_cell("An extra note ![pic](attachment:pic.png) ![bad](attachment:bad.svg)")
    extra["attachments"] = {"pic.png": {"image/png": "iVBORw0KGgo="},
                            "bad.svg": {"image/svg+xml": svg_payload(hit), "text/html": html_payload(hit)}}
    raw = nbformat.v4.new_raw_cell(f"<script>{js('raw-cell', hit)}</script><p>raw words</p>")
    raw.metadata["raw_mimetype"] = "text/html"
    at = gid.index(display_after) + 1
    nb.cells[at:at] = [shown, extra, raw]
    nb.metadata["widgets"] = widget_state(hit)
    return nb


# ---- an independent reading: what would run ------------------------------------------------------------
ACTIVE_TAGS = {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "form", "input", "button",
               "select", "textarea", "meta", "link", "style", "svg", "math", "template", "video", "audio", "source"}
URL_ATTRS = {"href", "src", "xlink:href", "action", "formaction", "data", "srcdoc", "poster", "background"}


def active(page: str, allow_scripts: frozenset[str] = frozenset()) -> list[str]:
    """What in ``page`` would be active, read by html5lib (a browser's parser): active tags,
    event handlers, style attributes, script URLs, ``srcdoc``, images loaded from anywhere but a
    data URL. ``allow_scripts``: the template's own script, link, meta and style tags to ignore
    (by their text or their src/href)."""
    from bleach._vendor import html5lib

    doc = html5lib.parse(page, namespaceHTMLElements=False)
    found = []
    for el in doc.iter():
        tag = el.tag.rsplit("}", 1)[-1] if isinstance(el.tag, str) else ""
        ident = (el.get("src") or el.get("href") or (el.text or "").strip()[:60])
        if tag in ACTIVE_TAGS and not (tag in ("script", "link", "meta", "style") and ident in allow_scripts):
            found.append(f"<{tag}> {ident[:40]!r}")
        for name, value in el.attrib.items():
            name = name.rsplit("}", 1)[-1].lower()
            url = re.sub(r"[\x00-\x20]+", "", value or "").lower()
            if name.startswith("on") or name in ("style", "srcdoc"):
                found.append(f"{tag}[{name}]")
            elif name in URL_ATTRS and url.startswith(("javascript:", "vbscript:", "data:text", "data:application")):
                found.append(f"{tag}[{name}={url[:24]}]")
            elif tag == "img" and name == "src" and not url.startswith("data:image/"):
                found.append(f"img[src={url[:40]}]")
    return found


def template_scripts(page: str) -> frozenset[str]:
    """The identities ``active`` gives the script/link/meta/style tags of ``page`` (a page made
    from an empty notebook: the template's own)."""
    from bleach._vendor import html5lib

    doc = html5lib.parse(page, namespaceHTMLElements=False)
    return frozenset((el.get("src") or el.get("href") or (el.text or "").strip()[:60]) for el in doc.iter()
                     if el.tag in ("script", "link", "meta", "style"))


def visible_text(page: str) -> str:
    from bleach._vendor import html5lib

    doc = html5lib.parse(page, namespaceHTMLElements=False)
    return " ".join(" ".join("".join(el.itertext()) for el in doc.iter("body")).split())
