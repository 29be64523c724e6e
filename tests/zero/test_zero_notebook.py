"""The ZeRO lecture notebook runs top to bottom on a real Jupyter kernel, and its widget
redraws when a slider moves."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]


def test_zero_notebook_runs_without_errors():
    nb = nbformat.read(ROOT / "notebooks" / "zero.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert text.count("matches DDP True") == 3
    assert any("image/png" in o.get("data", {}) for o in outputs)


def test_zero_explorer_redraws_when_a_slider_moves():
    from mlsys_kit.zero.viz import zero_explorer

    box = zero_explorer()
    size, nd = box.children[0].children
    facts, image = box.children[2], box.children[3]
    assert "stage 0 <b>120 GB</b>" in facts.value  # the paper's 7.5B, N_d = 64
    before = image.value
    nd.value = 1
    assert image.value != before
    assert "stage 3 <b>120 GB</b>" in facts.value  # N_d = 1 partitions nothing
    size.value = 1.0
    assert "stage 0 <b>16 GB</b>" in facts.value
