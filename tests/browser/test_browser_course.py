"""A student's path and an instructor's path through JupyterLab and nbgrader's extensions."""

from __future__ import annotations

import json
import subprocess

from jlab import BIN, command, fill_cell, grade_id, notebook_json, open_notebook, run_cell, shot

LAB = "lab0-costs"
KV_ANSWER = "def kv_bytes_per_token(cfg: TransformerConfig) -> int:\n    return 2 * cfg.layers * cfg.n_kv_heads * cfg.head_dim * cfg.dtype_bytes\n"


def test_student_fills_a_cell_passes_its_test_saves_and_gets_the_points(page, lab_server, tmp_path):
    path = f"labs/release/{LAB}/{LAB}.ipynb"
    open_notebook(page, lab_server, path)
    cells = notebook_json(page)["cells"]
    fill_cell(page, "kv_bytes", KV_ANSWER)  # as pasted: no auto-indent
    # what a student does: run the setup, the cell they wrote and its test; and an unfilled one's test
    for gid in ("setup", "kv_bytes", "test_kv_bytes", "param_count", "test_param_count"):
        run_cell(page, next(i for i, c in enumerate(cells) if grade_id(c) == gid))
    nb = notebook_json(page)
    outputs = {grade_id(c): c.get("outputs", []) for c in nb["cells"]}
    counts = {grade_id(c): c.get("execution_count") for c in nb["cells"]}
    assert counts["test_kv_bytes"] is not None, "the test cell did not run"
    assert not [o for o in outputs["test_kv_bytes"] if o["output_type"] == "error"], "the filled-in cell's test fails"
    assert any(o["output_type"] == "error" and o["ename"] == "NotImplementedError"
               for o in outputs["test_param_count"]), "an unfilled cell's test passed"
    shot(page, "student-lab0-after-run")
    command(page, "docmanager:save")
    saved = lab_server.root / path
    for _ in range(40):
        page.wait_for_timeout(250)
        if "return 2 * cfg.layers * cfg.n_kv_heads" in saved.read_text():
            break
    assert "return 2 * cfg.layers * cfg.n_kv_heads" in saved.read_text()

    # the saved file, graded by mlsys-grade, gets the points of that cell and no others
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "browserstudent.ipynb").write_bytes(saved.read_bytes())
    course = str(lab_server.root / "labs")
    for args in (["collect", LAB, str(inbox)], ["autograde", LAB, "--student", "browserstudent", "--json"]):
        res = subprocess.run([str(BIN / "mlsys-grade"), *args, "--course", course], capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr
    result = json.loads(res.stdout)["results"][0]
    assert result["status"] == "graded"
    assert result["cells"]["test_kv_bytes"] == 2.0 and result["score"] == 2.0, result


def test_instructor_sees_the_lab_and_its_submissions_in_formgrader(page, lab_server, tmp_path):
    # a submission so that the gradebook has one (the student test may have run before or not)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "formgraderstudent.ipynb").write_bytes((lab_server.root / "labs" / "release" / LAB / f"{LAB}.ipynb").read_bytes())
    course = str(lab_server.root / "labs")
    for args in (["collect", LAB, str(inbox)], ["autograde", LAB, "--student", "formgraderstudent"]):
        res = subprocess.run([str(BIN / "mlsys-grade"), *args, "--course", course], capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr
    n_submitted = len(list((lab_server.root / "labs" / "autograded").glob(f"*/{LAB}")))
    page.goto(lab_server.url("formgrader"))
    page.get_by_text(LAB).first.wait_for(timeout=60_000)
    row = page.locator("tr", has_text=LAB).first
    cells = [c.strip() for c in row.locator("td").all_inner_texts()]
    assert cells[0] == LAB and str(n_submitted) in cells, cells  # the lab and its number of submissions
    shot(page, "instructor-formgrader")
    page.goto(lab_server.url(f"formgrader/gradebook/{LAB}/{LAB}"))
    page.locator("td", has_text="formgraderstudent").first.wait_for(state="attached", timeout=60_000)
    page.wait_for_timeout(500)
    shot(page, "instructor-formgrader-submissions")
    assert page.locator("tbody tr").count() == n_submitted
