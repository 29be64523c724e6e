"""What every lecture notebook must show once it has run top to bottom: no error output, its
widget(s), and the lines that prove its point. One table, checked on the notebook executed
headless by nbclient (tests/test_notebooks.py) and on the notebook a lecturer runs in JupyterLab
(tests/browser/test_browser_demos.py): `make test` runs the notebooks once, in the browser, when
chromium is there, and headless otherwise."""

from __future__ import annotations

from typing import Any

WIDGET = "application/vnd.jupyter.widget-view+json"

# notebook: {"widgets": how many widget views (default: at least one), "png": a figure is drawn,
#            "text": [(printed text, how many times; None = at least once)]}
EXPECT: dict[str, dict[str, Any]] = {
    "pipeline.ipynb": {"png": True, "text": [("zb-h1", None), ("0.1250", None)]},  # the bubble table
    "zero.ipynb": {"png": True, "text": [("matches DDP True", 3)]},
    "kv_cache.ipynb": {"text": [("token-identical to full recomputation: True", None)]},
    "serving.ipynb": {"text": [("identical to generating each request alone: True", None)]},
    "feed.ipynb": {"widgets": 2, "png": True, "text": [("best partition", None), ("LP bound", 4)]},
}


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def problems(cells: list[dict], name: str) -> list[str]:
    """What the executed notebook ``name`` (its cells as nbformat JSON) fails to show."""
    outputs = [o for c in cells if c.get("cell_type") == "code" for o in c.get("outputs", [])]
    out = [f"{o.get('ename')}: {o.get('evalue')}" for o in outputs if o.get("output_type") == "error"]
    want = EXPECT.get(name, {})
    views = sum(WIDGET in o.get("data", {}) for o in outputs)
    if views == 0 or ("widgets" in want and views != want["widgets"]):
        out.append(f"{name} shows {views} widget(s), expected {want.get('widgets', 'at least one')}")
    if want.get("png") and not any("image/png" in o.get("data", {}) for o in outputs):
        out.append(f"{name} draws no figure")
    printed = "".join(_text(o.get("text")) for o in outputs if o.get("output_type") == "stream")
    for text, times in want.get("text", []):
        n = printed.count(text)
        if (times is None and n == 0) or (times is not None and n != times):
            out.append(f"{name} prints {text!r} {n} time(s), expected {times or 'at least once'}")
    return out
