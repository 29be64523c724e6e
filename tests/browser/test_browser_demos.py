"""Every lecture demo in a real JupyterLab: runs clean, its widgets render, a slider moves the plot;
and the same demo served as an app (Voila) with the code hidden."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from jlab import ROOT, notebook_json, open_notebook, run_all, shot

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from notebook_checks import problems  # noqa: E402  (tests/: what each notebook must show, headless or here)

PRINTED_VALUE = re.compile(r"^\s*(\{['\"\d]|\[\{|\[\d|\[['\"]|<[\w.]+ object at|<Figure size)")
DEMOS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))


def plot_images(page, cell):
    """Screenshots of the pictures (img/canvas/svg outside of controls) in a cell's output."""
    pics = cell.locator("img, canvas")
    return [pics.nth(i).screenshot() for i in range(pics.count()) if pics.nth(i).is_visible()]


def slider_state(handle) -> tuple[float, float]:
    """The slider's exact value and maximum, from its noUiSlider. Not the handle's aria-valuenow:
    noUiSlider writes that with toFixed(1), so a FloatSlider stepping 0.25 -> 0.30 (TTFT SLO) or a
    FloatLogSlider's exponent 0.875 -> 0.925 reads "0.3" -> "0.3" and "0.9" -> "0.9"."""
    value, top = handle.evaluate(
        "h => { const s = h.closest('.noUi-target').noUiSlider; return [Number(s.get()), s.options.range.max]; }")
    return float(value), float(top)


def step_first_slider(page, cell) -> tuple[float, float]:
    """Move the first slider one step up (down when it is at its maximum), as a lecturer does with
    the arrow keys after clicking the handle: one step from a demo's default stays a valid setting
    (a blind 60-pixel drag once landed the pipeline widget on p = 9, m = 8 under 1F1B). Returns the
    slider's value before and after."""
    handle = cell.locator(".widget-slider .noUi-handle").first
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # focus, no move
    before, top = slider_state(handle)
    handle.press("ArrowLeft" if before >= top else "ArrowRight")
    page.wait_for_timeout(100)
    return before, slider_state(handle)[0]


def shown_errors(cell) -> list[str]:
    """Error text the cell's output shows (a traceback, or a widget's own error message)."""
    text = cell.inner_text()
    return [line for line in text.splitlines() if "Traceback" in line or "Error" in line or "error:" in line]


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
    errors_before = shown_errors(cell)
    old, new = step_first_slider(page, cell)
    assert new != old, f"the slider did not move (value {old})"
    for _ in range(40):  # the kernel recomputes and redraws
        page.wait_for_timeout(250)
        after = plot_images(page, cell)
        if len(after) == len(before) and after != before:
            break
    shot(page, name)
    assert shown_errors(cell) == errors_before, f"moving the slider {old:g} -> {new:g} shows an error: " \
                                                f"{shown_errors(cell)}"
    assert len(after) == len(before), f"the chart is gone after moving the slider {old:g} -> {new:g} " \
                                      f"({len(before)} pictures before, {len(after)} after)"
    assert after != before, f"moving the slider {old:g} -> {new:g} did not redraw the chart"


def check_pictures_crisp_and_fit(scope, name: str) -> None:
    """Crisp on a projector: every picture in the outputs is shown at most at its own pixel size
    (a raster scaled up blurs its text) and inside its output area (nothing runs off the page)."""
    rows = scope.locator(".jp-OutputArea-output img").evaluate_all(
        "els => els.filter(e => e.offsetParent !== null && e.naturalWidth > 0).map(e => {"
        " const r = e.getBoundingClientRect(), a = e.closest('.jp-OutputArea').getBoundingClientRect();"
        " return [e.naturalWidth, r.width, r.right, a.right]; })")
    assert rows, f"{name}: no picture in the outputs"
    for natural, shown, right, edge in rows:
        assert shown <= natural + 1, f"{name}: a {natural}-pixel-wide picture is scaled up to {shown:.0f} px"
        assert right <= edge + 1, f"{name}: a picture runs {right - edge:.0f} px past its output area"


def check_no_news_toast(page) -> None:
    """The course's Jupyter configuration (labs/jupyter-config) turns JupyterLab's announcements off:
    no "get notified about official Jupyter news?" toast over the bottom right of a demo."""
    cfg = page.evaluate("() => JSON.parse(document.getElementById('jupyter-config-data').textContent)")
    assert "@jupyterlab/apputils-extension:announcements" in cfg.get("disabledExtensions", []), cfg.get(
        "disabledExtensions")
    assert page.get_by_text("official Jupyter news").count() == 0, "the Jupyter news toast is showing"


@pytest.mark.parametrize("demo", DEMOS)
def test_demo_runs_renders_and_reacts_in_jupyterlab(page, lab_server, demo):
    open_notebook(page, lab_server, f"notebooks/{demo}")
    check_no_news_toast(page)
    run_all(page)
    shot(page, f"demo-{Path(demo).stem}-ran")
    assert problems(notebook_json(page)["cells"], demo) == []  # no error; its widgets and lines (notebook_checks)
    figure_reprs = [o["data"]["text/plain"] for c in notebook_json(page)["cells"] if c["cell_type"] == "code"
                    for o in c.get("outputs", []) if "text/plain" in o.get("data", {})
                    and "<Figure size" in "".join(o["data"]["text/plain"]) and "image/png" not in o["data"]]
    assert not figure_reprs, f"a figure shows as text, not a picture: {figure_reprs}"
    check_pictures_crisp_and_fit(page.locator(".jp-NotebookPanel:visible").first, demo)
    check_widgets_and_slider(page, page.locator(".jp-NotebookPanel:visible").first, f"demo-{Path(demo).stem}-slider")


@pytest.mark.parametrize("demo", DEMOS[:1] and ["costs.ipynb"])
def test_demo_as_an_app_without_code(page, lab_server, demo):
    """What a lecturer presents full screen: Voila renders the outputs only."""
    page.goto(lab_server.url(f"voila/render/notebooks/{demo}"), timeout=120_000)
    body = page.locator("body")
    page.locator(".jupyter-widgets").first.wait_for(timeout=120_000)
    assert page.locator(".jp-InputArea-editor:visible").count() == 0, "code is showing"
    assert "costs_explorer()" not in body.inner_text()
    text = body.inner_text()  # only what the lecturer means to show: no printed Python values
    reprs = [line for line in text.splitlines() if PRINTED_VALUE.match(line)]
    assert not reprs, f"the presenter view shows printed Python values: {reprs}"
    assert "requests that fit on an A100-80GB" in text  # the closing table, rendered
    check_widgets_and_slider(page, body, f"voila-{Path(demo).stem}")
