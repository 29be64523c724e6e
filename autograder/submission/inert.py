"""Inert notebooks: what a student's notebook shows an instructor can run nothing.

The formgrader renders the autograded notebook inside the instructor's Jupyter session, the
feedback page is rendered from it, and an instructor may open it in JupyterLab. A submission
controls much of what is in it: the outputs its code displayed (HTML, JavaScript, SVG,
markdown, widgets), its markdown cells (the answers graded by hand included), raw cells, cell
attachments and metadata. ``InertNotebook`` (an nbgrader preprocessor, in the course config's
``Autograde.autograde_preprocessors`` after ``SaveAutoGrades``) cleans the autograded notebook
when it is made, so that every later viewer shows inert content:

* **outputs**: ``text/html`` through ``clean_html`` (an allow-list, nh3); ``image/svg+xml``
  shown as an ``<img>`` of a data URL (a browser runs no script and loads nothing in an image);
  ``text/markdown`` as markdown cells are; ``text/latex`` without ``\\href``; png, jpeg and gif
  images kept when they are base64; JavaScript, widget views and every other MIME type
  removed, a short ``text/plain`` note says which. Stream and error outputs (what decides a
  grade) are left exactly as they are; so is every ``text/plain``. Output metadata keeps only
  images' integer width and height (no ``isolated`` iframes).
* **markdown and raw cells**: a cell whose source is benign (``benign_markdown``: as HTML and as
  nbconvert renders it, only allowed tags, attributes and URLs) is kept exactly as written;
  any other is replaced by its rendering, cleaned, as one line of HTML (no blank line, so no
  markdown renderer reads any of it as markdown again). The words, ``$...$`` formulas and code
  blocks stay readable.
* **attachments**: png, jpeg and gif only; **cell metadata**: ``nbgrader`` and ``tags`` only (no
  ``transient.remove_source`` hiding code from the grader); **notebook metadata**:
  ``kernelspec`` and ``language_info`` only (widget state gone).

The allow-list: no script, style, iframe/frame/object/embed, form controls, meta/link/base,
svg/math, no ``on*`` handler, ``style``, ``id`` or ``name`` attribute; links keep http(s),
mailto, fragment and relative URLs; images keep only data URLs of images and the cell's own
attachments (nothing is loaded from a server, the grader's own included).
"""

from __future__ import annotations

import base64
import copy
import re

from nbgrader.preprocessors import NbGraderPreprocessor

from autograder.submission.sanitize import (CELL_ID, IMAGE_MIMES, NOTE, _base64_ok, _text, clean_html, inert_markdown,
                                            inert_raw, safe_attachments)

def svg_as_image(svg: str) -> str:
    """An SVG as an ``<img>`` of a data URL: browsers run no script and load nothing in an SVG
    shown as an image, whatever its elements and attributes say."""
    return f'<img src="data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()}">'


def note_output(what: str) -> dict:
    return {"output_type": "display_data", "data": {"text/plain": NOTE.format(what=what)}, "metadata": {}}


def inert_output(out: dict) -> list[dict]:
    """One output made inert: a list of the output itself, cleaned, and a note when something
    was removed. Streams and errors are returned untouched (they decide grades; every viewer
    shows them as text)."""
    kind = out.get("output_type")
    if kind in ("stream", "error"):
        return [out]
    if kind not in ("display_data", "execute_result"):
        return [note_output(f"an output of type {str(kind)[:40]!r}")]
    data = out.get("data", {}) if isinstance(out.get("data"), dict) else {}
    new: dict = {}
    removed: list[str] = []
    svg = None
    for mime, value in data.items():
        if not isinstance(value, (str, list)):
            removed.append(str(mime)[:60])
        elif mime == "text/plain":
            new[mime] = value
        elif mime in IMAGE_MIMES:
            if _base64_ok(value):
                new[mime] = value
            else:
                removed.append(f"{mime} (not base64)")
        elif mime == "text/html":
            new[mime] = clean_html(_text(value))
        elif mime == "text/markdown":
            new[mime] = inert_markdown(_text(value))
        elif mime == "text/latex":
            new[mime] = _text(value).replace("\\href", "\\text")
        elif mime == "image/svg+xml":
            svg = _text(value)
        else:
            removed.append(str(mime)[:60])  # JavaScript, widget views, PDF, JSON, anything unknown
    if svg is not None:
        if "text/html" in new:
            removed.append("image/svg+xml")
        else:
            new["text/html"] = svg_as_image(svg)
    meta = out.get("metadata") if isinstance(out.get("metadata"), dict) else {}
    keep_meta = {}
    for mime, md in meta.items():
        if mime in IMAGE_MIMES and mime in new and isinstance(md, dict):
            dims = {k: v for k, v in md.items() if k in ("width", "height") and type(v) is int}
            if dims:
                keep_meta[mime] = dims
    outs = []
    if new:
        outs.append({**out, "data": new, "metadata": keep_meta})
    if removed:
        outs.append(note_output(", ".join(removed)))
    return outs or [note_output("an empty output")]


def _safe_tags(tags) -> list[str]:
    return [t for t in tags if isinstance(t, str) and re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", t)] \
        if isinstance(tags, list) else []


def inert_notebook(nb) -> dict[str, int]:
    """Make ``nb`` inert in place (module docstring). Returns counts of what was changed."""
    import nbformat

    changed = {"outputs": 0, "cells": 0, "attachments": 0, "metadata": 0}
    for i, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {})
        keep = {k: copy.deepcopy(meta[k]) for k in ("nbgrader",) if k in meta}
        tags = _safe_tags(meta.get("tags"))
        if tags:
            keep["tags"] = tags
        if set(meta) - set(keep) or tags != meta.get("tags", tags):
            changed["metadata"] += 1
        cell["metadata"] = nbformat.from_dict(keep)
        if "id" in cell and not (isinstance(cell["id"], str) and CELL_ID.match(cell["id"])):
            cell["id"] = f"cell-{i}"
        if cell.cell_type in ("markdown", "raw"):
            if "attachments" in cell:
                safe = safe_attachments(cell["attachments"])
                if safe != cell["attachments"]:
                    changed["attachments"] += 1
                if safe:
                    cell["attachments"] = nbformat.from_dict(safe)
                else:
                    del cell["attachments"]
            new = (inert_markdown(cell.source, cell.get("attachments")) if cell.cell_type == "markdown"
                   else inert_raw(cell.source))
            if new != cell.source:
                cell.source = new
                changed["cells"] += 1
        elif cell.cell_type == "code":
            outs = []
            for out in cell.get("outputs", []):
                made = inert_output(out)
                if made != [out]:
                    changed["outputs"] += 1
                outs += [o if o is out else nbformat.from_dict(o) for o in made]
            cell.outputs = outs
    meta = nb.get("metadata", {})
    keep = {k: copy.deepcopy(meta[k]) for k in ("kernelspec", "language_info") if isinstance(meta.get(k), dict)}
    if set(meta) - set(keep):
        changed["metadata"] += 1
    nb["metadata"] = nbformat.from_dict(keep)
    return changed


class InertNotebook(NbGraderPreprocessor):
    """nbgrader autograde step, after ``SaveAutoGrades`` (so a grade never depends on it):
    ``inert_notebook``. The autograded notebook it writes is what the formgrader renders, what
    feedback is made from and what an instructor opens."""

    def preprocess(self, nb, resources):
        inert_notebook(nb)
        return nb, resources
