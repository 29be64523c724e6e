"""`mlsys-kit demo --only parallel` writes its section: the planner's plan, the 1T configuration,
and the real t = 2 runs that match one process, each figure naming its command."""

import json
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def test_demo_parallel_section(tmp_path):
    res = subprocess.run([str(BIN / "mlsys-kit"), "demo", "--only", "parallel", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    report = json.loads((tmp_path / "report.json").read_text())["parallel"]
    rows = report["rows"]
    assert rows["llama2-70b, 64 A100s, batch 1024: best plan"].startswith("t=")
    assert [r["matches_single_process"] for r in report["data"]["runs"]] == [True, True]
    assert all(r["bytes_sent_measured"] == r["bytes_sent_predicted"] for r in report["data"]["runs"])
    one_t = report["data"]["megatron_1t"]
    assert one_t["2"]["step_time"] < one_t["1"]["step_time"]
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2
    assert "mlsys-kit parallel plan --preset llama2-70b" in html and "mlsys-kit parallel run --tensor 2" in html
