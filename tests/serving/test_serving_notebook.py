"""The serving lecture notebook runs on a real kernel without an error and shows its widget;
the widget re-simulates and redraws when a slider moves."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]


def test_serving_notebook_runs_without_errors():
    nb = nbformat.read(ROOT / "notebooks" / "serving.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    assert any("identical to generating each request alone: True" in o.get("text", "") for o in outputs)


def test_serving_explorer_redraws_when_a_slider_moves():
    from mlsys_kit.serving.viz import serving_explorer

    box = serving_explorer(requests=200)
    rate, budget, mix = box.children[0].children
    facts, image = box.children[2], box.children[3]
    before = (image.value, facts.value)
    rate.value = 20.0
    assert image.value != before[0] and facts.value != before[1]
    before = facts.value
    budget.value = 64
    assert facts.value != before and "chunked" in facts.value
    before = facts.value
    mix.value = "fixed"
    assert facts.value != before
