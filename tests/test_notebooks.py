"""Lecture notebooks run top to bottom on a real Jupyter kernel without an error and show what
tests/notebook_checks.py expects of each; the warm-up widget redraws when a control moves.

The headless runs carry the mark ``headless_notebook``: where chromium is there, `make test`
deselects them, because the browser test runs every notebook in JupyterLab and checks the same
table (tests/browser/test_browser_demos.py)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from notebook_checks import problems

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.headless_notebook
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_without_errors(name):
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    assert problems(nb.cells, name) == []


def test_the_checks_fail_a_notebook_that_shows_an_error_or_misses_its_lines():
    shown = [{"cell_type": "code", "outputs": [
        {"output_type": "display_data", "data": {"application/vnd.jupyter.widget-view+json": {}, "image/png": ""}},
        {"output_type": "stream", "name": "stdout", "text": ["matches DDP True\n"] * 3}]}]
    assert problems(shown, "zero.ipynb") == []
    assert problems(shown[:0], "zero.ipynb") == ["zero.ipynb shows 0 widget(s), expected at least one",
                                                 "zero.ipynb draws no figure",
                                                 "zero.ipynb prints 'matches DDP True' 0 time(s), expected 3"]
    broken = shown + [{"cell_type": "code", "outputs": [{"output_type": "error", "ename": "KeyError", "evalue": "'x'"}]}]
    assert problems(broken, "zero.ipynb") == ["KeyError: 'x'"]
    assert "feed.ipynb shows 1 widget(s), expected 2" in problems(shown, "feed.ipynb")


def test_costs_explorer_redraws_when_a_control_moves():
    from mlsys_kit.models.viz import costs_explorer

    box = costs_explorer()
    image, facts = box.children[3], box.children[2]
    tokens = box.children[1].children[0]
    before_png, before_text = image.value, facts.value
    tokens.value = 8192
    assert image.value != before_png and facts.value != before_text
    assert "8192-token requests" in facts.value
