"""A student walks lab 0 in JupyterLab (issue #25): Run All on the released stubs, one answer
filled, Run All again, Validate.

What a student meets: Run All goes on past every failing test (test cells carry the
raises-exception tag), so every cell below a failure still runs, the helpers a later test needs
included; each unfilled answer's test fails with the stub's NotImplementedError, never a
NameError of something the lab forgot to define; there is no rubric cell (no second answer box
under the design question); the filled answer's test passes; nbgrader's Validate button answers
with a dialog that names what still fails, and no hidden test's text.
"""

from __future__ import annotations

import shutil

from jlab import fill_cell, grade_id, open_notebook, pristine_release, shot

LAB = "lab0-costs"
KV_ANSWER = "def kv_bytes_per_token(cfg: TransformerConfig) -> int:\n    return 2 * cfg.layers * cfg.n_kv_heads * cfg.head_dim * cfg.dtype_bytes\n"


def run_everything(page, timeout_ms: int = 240_000) -> dict:
    """Run All, and wait until EVERY code cell has run (not only up to the first failure)."""
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(
        """() => {
            const w = window.jupyterapp.shell.currentWidget;
            const k = w.sessionContext.session && w.sessionContext.session.kernel;
            const cells = w.content.widgets.filter(c => c.model.type === 'code');
            const busy = [...w.node.querySelectorAll('.jp-InputPrompt')].some(e => e.textContent.includes('*'));
            return k && k.status === 'idle' && !busy && cells.every(c => c.model.executionCount !== null);
        }""", timeout=timeout_ms, polling=250)
    # and until the notebook stops changing (an output that arrives after the count is set)
    last = None
    for _ in range(40):
        nb = page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.toJSON()")
        if nb == last:
            return nb
        last = nb
        page.wait_for_timeout(500)
    return last


def errors_by_cell(nb: dict) -> dict[str, list[str]]:
    return {grade_id(c) or f"cell-{i}": [o["ename"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
            for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"}


def test_a_student_runs_all_fills_one_answer_and_validates(page, lab_server):
    # a fresh copy of the released lab (the formgrader test saves a filled-in answer into the release)
    path = f"labs/release/{LAB}/student-walk.ipynb"
    shutil.copy(pristine_release(lab_server.root) / LAB / f"{LAB}.ipynb", lab_server.root / path)
    open_notebook(page, lab_server, path)
    nb = run_everything(page)
    tests = [grade_id(c) for c in nb["cells"] if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("grade")]
    assert len(tests) == 6 and all("raises-exception" in c["metadata"].get("tags", []) for c in nb["cells"]
                                   if grade_id(c) in tests)
    assert not [c for c in nb["cells"] if "rubric" in (grade_id(c) or "")], "a rubric cell in the student's copy"
    errs = errors_by_cell(nb)
    for t in tests:  # every test ran and fails on its stub, not on a name the lab forgot
        assert errs[t] and set(errs[t]) <= {"NotImplementedError"}, (t, errs[t])
    assert not any("NameError" in e for e in errs.values() for e in e), errs
    shot(page, "student-lab0-run-all-stubs")

    fill_cell(page, "kv_bytes", KV_ANSWER)
    nb = run_everything(page)
    errs = errors_by_cell(nb)
    assert errs["test_kv_bytes"] == [] and errs["kv_bytes"] == [], errs
    assert all(errs[t] == ["NotImplementedError"] for t in tests if t != "test_kv_bytes"), errs
    shot(page, "student-lab0-one-answer")

    page.locator(".validate-button").first.click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=180_000)
    page.wait_for_function("() => !document.querySelector('.jp-Dialog').innerText.includes('Validating')",
                           timeout=180_000, polling=500)
    text = dialog.inner_text()
    shot(page, "student-lab0-validate")
    assert "NotImplementedError" in text or "failed" in text.lower(), text[:2000]
    assert "HIDDEN" not in text and "_ref." not in text, text[:2000]
