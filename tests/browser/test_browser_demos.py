"""Every lecture demo in a real JupyterLab: runs clean, its widgets render, a slider moves the plot;
and the same demo served as an app (Voila) with the code hidden."""

from __future__ import annotations

from pathlib import Path

import pytest
from jlab import ROOT, error_outputs, notebook_json, open_notebook, run_all, shot

DEMOS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))


def plot_images(page, cell):
    """Screenshots of the pictures (img/canvas/svg outside of controls) in a cell's output."""
    pics = cell.locator("img, canvas")
    return [pics.nth(i).screenshot() for i in range(pics.count()) if pics.nth(i).is_visible()]


def drag_first_slider(page, cell) -> None:
    handle = cell.locator(".widget-slider .noUi-handle").first
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 60, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()


def check_widgets_and_slider(page, scope, name: str) -> None:
    scope.locator(".jupyter-widgets").first.wait_for(timeout=60_000)
    page.wait_for_timeout(500)
    text = scope.inner_text()
    assert "Loading widget" not in text, "a widget never rendered"
    assert "Error displaying widget" not in text
    assert "VBox(children=" not in text and "HBox(children=" not in text, "a widget shows as a text repr"
    slider_cell = scope.locator(".widget-slider").first.locator(
        "xpath=ancestor::*[contains(@class,'jp-Cell') or contains(@class,'jp-OutputArea-output')][1]")
    cell = slider_cell if slider_cell.count() else scope
    before = plot_images(page, cell)
    assert before, "the slider's output has no picture"
    drag_first_slider(page, cell)
    for _ in range(40):  # the kernel recomputes and redraws
        page.wait_for_timeout(250)
        if plot_images(page, cell) != before:
            break
    assert plot_images(page, cell) != before, "moving the slider did not change the plot"
    shot(page, name)


@pytest.mark.parametrize("demo", DEMOS)
def test_demo_runs_renders_and_reacts_in_jupyterlab(page, lab_server, demo):
    open_notebook(page, lab_server, f"notebooks/{demo}")
    run_all(page)
    shot(page, f"demo-{Path(demo).stem}-ran")
    errors = error_outputs(notebook_json(page))
    assert not errors, [f"{e['ename']}: {e['evalue']}" for e in errors]
    check_widgets_and_slider(page, page.locator(".jp-NotebookPanel:visible").first, f"demo-{Path(demo).stem}-slider")


@pytest.mark.parametrize("demo", DEMOS[:1] and ["costs.ipynb"])
def test_demo_as_an_app_without_code(page, lab_server, demo):
    """What a lecturer presents full screen: Voila renders the outputs only."""
    page.goto(lab_server.url(f"voila/render/notebooks/{demo}"), timeout=120_000)
    body = page.locator("body")
    page.locator(".jupyter-widgets").first.wait_for(timeout=120_000)
    assert page.locator(".jp-InputArea-editor:visible").count() == 0, "code is showing"
    assert "costs_explorer()" not in body.inner_text()
    check_widgets_and_slider(page, body, f"voila-{Path(demo).stem}")
