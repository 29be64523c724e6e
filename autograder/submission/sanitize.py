"""The allow-list that makes HTML and markdown inert (issue #23; ``autograder.submission.inert``
applies it to a whole notebook): no script, style, iframe/frame/object/embed, form controls,
meta/link/base, svg/math, no ``on*`` handler, ``style``, ``id`` or ``name`` attribute; links keep
http(s), mailto, fragment and relative URLs; images keep only data URLs of images and the
cell's own attachments (nothing is loaded from a server, the grader's own included). HTML goes
through nh3; a markdown cell whose source is benign (as HTML and as nbconvert renders it) is kept
exactly as written, any other is replaced by its rendering, cleaned, as one line of HTML."""

from __future__ import annotations

import base64
import binascii
import html as html_lib
import re
from html.parser import HTMLParser

import nh3

ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd", "del", "details", "dfn",
    "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins",
    "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub", "summary", "sup",
    "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul", "var"})
# removed with everything inside them (code, not words); any other disallowed tag is removed and its text kept
# (an unclosed iframe's or svg's text included: inert, and what the student wrote stays readable)
CLEAN_CONTENT_TAGS = frozenset({"script", "style", "template"})
GENERIC_ATTRS = frozenset({"class", "title", "align", "valign", "lang", "dir"})
TAG_ATTRS = {"a": {"href"}, "img": {"src", "alt", "width", "height"}, "td": {"colspan", "rowspan"},
             "th": {"colspan", "rowspan", "scope"}, "table": {"border"}, "ol": {"start", "type"}, "col": {"span"},
             "colgroup": {"span"}, "details": {"open"}}
IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif")  # attachments and image outputs kept as they are
DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=]*$")
SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
LINK_SCHEMES = ("http", "https", "mailto")
DENIED_CLASSES = frozenset({"mermaid"})  # a diagram renderer would run on the text
CELL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
INERT_DIV = '<div class="mlsys-inert">'
NOTE = "[removed from this notebook: {what} (active or unknown content is not shown to the grader)]"


def _url(value: str) -> str:
    """A URL as a browser reads it: entities decoded, whitespace and control characters gone."""
    return re.sub(r"[\x00-\x20\x7f]+", "", html_lib.unescape(value))


def _link_ok(url: str) -> bool:
    u = _url(url)
    m = SCHEME.match(u)
    return m is None or m.group(1).lower() in LINK_SCHEMES  # relative and fragment links have no scheme


def _image_ok(url: str) -> bool:
    u = _url(url)
    return bool(DATA_IMAGE.match(u)) or (u.startswith("attachment:") and len(u) > len("attachment:"))


def _attr_ok(tag: str, name: str, value: str) -> bool:
    """Whether attribute ``name`` may stay on ``tag`` with ``value`` (the allow-list above)."""
    if name in GENERIC_ATTRS or name in TAG_ATTRS.get(tag, ()):
        if name == "href":
            return _link_ok(value)
        if name == "src":
            return _image_ok(value)
        if name == "class":
            return not DENIED_CLASSES & set(value.split())
        return True
    return False


def _filter(tag: str, name: str, value: str) -> str | None:
    if name == "class" and DENIED_CLASSES & set(value.split()):
        return " ".join(c for c in value.split() if c not in DENIED_CLASSES) or None
    return value if _attr_ok(tag, name, value) else None


_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS), clean_content_tags=set(CLEAN_CONTENT_TAGS),
    attributes={"*": set(GENERIC_ATTRS), **{t: set(a) for t, a in TAG_ATTRS.items()}},
    attribute_filter=_filter, strip_comments=True, link_rel=None,
    url_schemes={"http", "https", "mailto", "data", "attachment"})


def clean_html(text) -> str:
    """HTML with only inert tags and attributes left (nh3's allow-list, above): script, style and
    template are removed with their content, every other disallowed tag is removed and its text
    kept (as text); MathJax's ``\\href`` becomes ``\\text``. Also nbconvert's ``clean_html`` filter
    in the course config (the formgrader's and feedback's own sanitising)."""
    text = text.decode() if isinstance(text, bytes) else str(text)
    return _CLEANER.clean(text).replace("\\href", "\\text")


def one_line(html: str) -> str:
    """``html`` as one line inside a ``<div>``: a markdown renderer passes an HTML block through
    up to its first blank line, so with none there it reads none of it as markdown. Newlines
    become ``&#10;`` and brackets ``&#91;``/``&#93;`` (the same characters to an HTML parser, in
    text and in attribute values)."""
    body = html.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "&#10;")
    body = body.replace("[", "&#91;").replace("]", "&#93;")  # and no markdown link can form, whatever reads it
    return f"{INERT_DIV}{body}</div>"


# ---- is it benign as it is? -------------------------------------------------------------------------
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"})


class _Tokens(HTMLParser):
    """Tags, attributes and text of an HTML string, normalised for comparison; ``odd`` when it
    holds a comment, declaration, processing instruction or CDATA (never benign)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[tuple] = []
        self.odd = False

    def handle_starttag(self, tag, attrs):
        self.out.append(("<", tag, tuple(sorted((k, v or "") for k, v in attrs))))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.out.append((">", tag))

    def handle_endtag(self, tag):
        if tag not in VOID:
            self.out.append((">", tag))

    def handle_data(self, data):
        if self.out and self.out[-1][0] == "t":
            self.out[-1] = ("t", self.out[-1][1] + data)
        else:
            self.out.append(("t", data))

    def handle_comment(self, data):
        self.odd = True

    def handle_decl(self, decl):
        self.odd = True

    def handle_pi(self, data):
        self.odd = True

    def unknown_decl(self, data):
        self.odd = True


def _tokens(html: str) -> tuple[list[tuple], bool]:
    p = _Tokens()
    p.feed(html)
    p.close()
    out = [("t", " ".join(t[1].split())) if t[0] == "t" else t for t in p.out]
    return [t for t in out if t != ("t", "")], p.odd


def benign_html(html: str) -> bool:
    """Whether ``html`` is already inert: read as tags, attributes and text it is the same as
    ``clean_html`` makes it (that cleaning is done by a browser's parser, html5ever), and every
    tag and attribute in it is allowed."""
    toks, odd = _tokens(html)
    if odd:
        return False
    for t in toks:
        if t[0] in "<>" and t[1] not in ALLOWED_TAGS:
            return False
        if t[0] == "<" and not all(_attr_ok(t[1], k, v) for k, v in t[2]):
            return False
    return toks == _tokens(clean_html(html))[0]


ACTIVE_WORDS = re.compile(r"(javascript|vbscript|livescript|data:text|data:application|\\href)", re.I)


class _Render:
    """nbconvert's own markdown rendering (what the formgrader and feedback pages use), with
    attachments resolved from the cell's own allowed ones (or left as references)."""

    def __init__(self, attachments: dict | None, embed: bool):
        from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

        outer = self
        self.problems: list[str] = []
        safe = safe_attachments(attachments or {})

        class Renderer(IPythonRenderer):
            def _embed_image_or_attachment(self, src: str) -> str:
                if not src.startswith("attachment:"):
                    return src
                bundle = safe.get(src[len("attachment:"):], {})
                mime = next((m for m in IMAGE_MIMES if m in bundle), None)
                if mime is None:
                    outer.problems.append(f"missing attachment {src!r}")
                    return ""
                return f"data:{mime};base64,{_text(bundle[mime])}" if embed else src

        self.md = MarkdownWithMath(renderer=Renderer(escape=False, exclude_anchor_links=True))

    def __call__(self, source: str) -> str:
        return self.md.render(source)


def render_markdown(source: str, attachments: dict | None = None) -> str:
    """``source`` rendered as nbconvert does, attachments inlined as data URLs (missing ones dropped)."""
    return _Render(attachments, embed=True)(source)


def _markdown2html(context, source) -> str:
    """nbconvert's ``markdown2html`` filter, cleaned: the course config gives it to the
    formgrader's and feedback's exporter (nbgrader's formgrade template renders markdown cells
    without the exporter's ``clean_html``, whatever ``sanitize_html`` says). Attachments come from
    the cell being rendered, png, jpeg and gif only; a missing one is dropped (nbconvert would
    fail the whole page)."""
    cell = context.get("cell") or {}
    return clean_html(render_markdown(_text(source), cell.get("attachments") if hasattr(cell, "get") else None))


def _pass_context(fn):
    import jinja2

    return jinja2.pass_context(fn)


markdown2html = _pass_context(_markdown2html)


def benign_markdown(source: str, attachments: dict | None = None) -> bool:
    """Whether a markdown source can be shown as it is: read as HTML (what a renderer passes
    through) and as nbconvert renders it, nothing is active; no ``javascript:``-like word
    anywhere (entity-encoded or not); every attachment it shows is there and is an image."""
    if ACTIVE_WORDS.search(_url(source)):
        return False
    if "<" in source and not benign_html(source):
        return False
    render = _Render(attachments, embed=False)
    try:
        out = render(source)
    except Exception:  # noqa: BLE001 - what nbconvert cannot render is not shown as it is
        return False
    return not render.problems and benign_html(out)


def inert_markdown(source: str, attachments: dict | None = None) -> str:
    """A markdown source that renders inert: ``source`` itself when ``benign_markdown``, else its
    rendering, cleaned, as one line of HTML."""
    source = _text(source)
    if benign_markdown(source, attachments) or _made_here(source):
        return source
    try:
        rendered = render_markdown(source, attachments)
    except Exception:  # noqa: BLE001 - unrenderable: shown as text
        rendered = f"<pre>{html_lib.escape(source)}</pre>"
    return one_line(clean_html(rendered))


def _made_here(source: str) -> bool:
    """Whether ``source`` is already what ``one_line`` makes (so cleaning twice changes nothing)."""
    return (source.startswith(INERT_DIV) and source.endswith("</div>") and not re.search(r"[\n\r\[\]]", source)
            and benign_html(source))


def inert_raw(source: str) -> str:
    """A raw cell's source (nbconvert passes raw HTML cells through into the page)."""
    source = _text(source)
    if _made_here(source):
        return source
    if not ACTIVE_WORDS.search(_url(source)) and ("<" not in source or benign_html(source)):
        return source
    return one_line(clean_html(source))


# ---- outputs, attachments, metadata --------------------------------------------------------------------


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _base64_ok(value) -> bool:
    if not isinstance(value, (str, list)):
        return False
    try:
        base64.b64decode(re.sub(r"\s", "", _text(value)), validate=True)
        return True
    except (binascii.Error, ValueError):
        return False


def safe_attachments(attachments) -> dict:
    """A cell's attachments with png, jpeg and gif images only (base64)."""
    out = {}
    for name, bundle in (attachments or {}).items() if isinstance(attachments, dict) else ():
        if isinstance(bundle, dict):
            kept = {m: v for m, v in bundle.items() if m in IMAGE_MIMES and _base64_ok(v)}
            if kept:
                out[name] = kept
    return out
