"""Lecture notebooks run top to bottom on a real Jupyter kernel without an error, and the
warm-up widget redraws when a control moves."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["costs.ipynb", "disaggregation.ipynb", "parallel.ipynb", "attention.ipynb",
                                  "memory.ipynb", "fault.ipynb", "cluster.ipynb", "offload.ipynb"])
def test_notebook_runs_without_errors(name):
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    widget_views = [o for c in nb.cells for o in c.get("outputs", [])
                    if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widget_views, "the demo must display a widget"


def test_costs_explorer_redraws_when_a_control_moves():
    from mlsys_kit.models.viz import costs_explorer

    box = costs_explorer()
    image, facts = box.children[3], box.children[2]
    tokens = box.children[1].children[0]
    before_png, before_text = image.value, facts.value
    tokens.value = 8192
    assert image.value != before_png and facts.value != before_text
    assert "8192-token requests" in facts.value
