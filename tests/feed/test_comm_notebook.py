"""The feed lecture notebook runs top to bottom on a real Jupyter kernel, and its widgets redraw
when a control moves."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]


def test_feed_notebook_runs_without_errors():
    nb = nbformat.read(ROOT / "notebooks" / "feed.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs) == 2
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "best partition" in text and text.count("LP bound") == 4
    assert any("image/png" in o.get("data", {}) for o in outputs)


def test_comm_explorer_redraws_when_a_control_moves():
    from mlsys_kit.feed.widgets import comm_explorer

    box = comm_explorer()
    bw = box.children[0].children[0]
    facts, image = box.children[2], box.children[3]
    before_png, before_text = image.value, facts.value
    assert image.value[:8] == b"\x89PNG\r\n\x1a\n"
    bw.value = 10.0
    assert image.value != before_png and facts.value != before_text
    assert "fifo <b>" in facts.value and "bytescheduler <b>" in facts.value


def test_cache_explorer_redraws_when_a_control_moves():
    from mlsys_kit.feed.widgets import cache_explorer

    box = cache_explorer()
    ds, mem = box.children[0].children
    facts, image = box.children[2], box.children[3]
    before = image.value
    mem.value = 140.0  # memory = dataset: both caches hold everything
    assert image.value != before
    assert facts.value.count("hit rate <b>1.000</b>") == 2
