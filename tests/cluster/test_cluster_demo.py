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


def test_fitted_jobs_carry_the_fitted_models_and_run():
    from mlsys_kit.cluster.experiments import fitted_comparison, fitted_jobs
    from mlsys_kit.cluster.pollux import PolluxParams, nodes_for, throughput

    params = {"alpha_grad": 0.002, "beta_grad": 0.004, "phi": 50.0, "m0": 8, "max_local": 64, "max_batch": 512}
    jobs = fitted_jobs(params, n=12, gpus=8)
    p = PolluxParams(**params)
    for j in jobs:
        assert j.pollux == p and j.batch_size == 8
        local = max(1, min(64, 8 // j.gpus))
        assert j.throughput["v100"] == pytest.approx(throughput(p, j.gpus, nodes_for(j.gpus, 8), local) / 8)
    out = fitted_comparison(params, n=12, gpus=8)
    assert {m["jobs_finished"] for m in out["metrics"].values()} == {12}
    assert out["tiresias_over_pollux"] == pytest.approx(out["metrics"]["tiresias"]["avg_jct"]
                                                        / out["metrics"]["pollux"]["avg_jct"])
    with pytest.raises(ValueError, match="PolluxParams' fields"):
        fitted_jobs({"alpha": 1.0})
    with pytest.raises(ValueError):
        fitted_jobs(params, n=0)
