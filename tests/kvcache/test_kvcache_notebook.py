"""The KV-cache lecture notebook runs on a real kernel, and its widget redraws when a control moves."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]


def test_kv_cache_notebook_runs_without_errors():
    nb = nbformat.read(ROOT / "notebooks" / "kv_cache.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    widget_views = [o for c in nb.cells for o in c.get("outputs", [])
                    if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widget_views, "the demo must display a widget"
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "token-identical to full recomputation: True" in text


def test_explorer_redraws_on_both_sliders():
    from mlsys_kit.kvcache.viz import kv_cache_explorer

    box = kv_cache_explorer()
    _, step, block = box.children[0].children
    facts, image = box.children[1], box.children[2]
    before = image.value, facts.value
    step.value = 6  # the copy-on-write event
    assert image.value != before[0] and "copy-on-write" in facts.value
    png = image.value
    block.value = 16
    assert image.value != png and "blocks of 16" in facts.value
