"""The training-memory lecture notebook runs top to bottom on a real Jupyter kernel, and its
widget redraws when a slider moves."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]


def test_memory_notebook_runs_without_errors():
    nb = nbformat.read(ROOT / "notebooks" / "memory.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert text.count("matches plain step True") == 5 and ": True, recomputed" in text
    assert "False" not in text.split("largest model")[0].replace("fits 12 GB: True", "")
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2


def test_memory_explorer_redraws_when_a_slider_moves():
    from mlsys_kit.viz.memory import memory_explorer

    box = memory_explorer(budget_gb=8.0)
    budget, link = box.children[0].children
    batch, model = box.children[1].children
    image, facts = box.children[2], box.children[3]
    assert "<b>all</b>: peak 10.6 GB <b>does not fit</b>" in facts.value
    before = image.value
    budget.value = 12.0
    assert image.value != before and "<b>all</b>: peak 10.6 GB fits" in facts.value
    slow = facts.value
    link.value = 1000.0
    assert facts.value != slow
    model.value = "vgg16"
    batch.value = 64
    assert "VGG" not in facts.value and "<b>offload</b>" in facts.value
