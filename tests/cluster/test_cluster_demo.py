"""The report section: its rows and figures, and each figure's command reproduces its numbers."""

from __future__ import annotations

import json

import pytest

from mlsys_kit.cli import main
from mlsys_kit.cluster import demo


def test_section_rows_figures_and_commands(monkeypatch, capsys):
    monkeypatch.setattr(demo, "N_JOBS", 40)
    sec = demo.section(lambda msg: None)
    rows = dict(sec.rows)
    assert sec.topic == "cluster" and len(sec.figures) == 3
    assert all(f.png[:8] == b"\x89PNG\r\n\x1a\n" and f.command.startswith("mlsys-kit cluster simulate")
               for f in sec.figures)
    for k in ("tiresias_vs_fifo", "srtf_vs_tiresias", "gavel_aware_vs_agnostic", "pollux_vs_tiresias"):
        r = sec.data["paper_numbers"][k]
        assert r["sim"] > 0 and r["paper"] > 0 and r["source"]
    # the first figure's command, run through the CLI, gives the row's average JCT
    cmd = sec.figures[0].command.split()[1:]
    cmd = cmd[: cmd.index("--plot")] + ["--json"]
    assert main(cmd) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["avg_jct"] / 3600 == pytest.approx(rows["sim avg JCT (h), 64 V100, tiresias"])
    assert 0 < rows["real tiny-GPT fit: held-out throughput relative error"] < 1
