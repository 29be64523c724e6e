"""``mlsys-kit cluster simulate``: stable JSON keys equal to the library's numbers, the plot, a
trace file, and bad input that exits 2 with what was wrong and what is allowed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlsys_kit.cli import main
from mlsys_kit.cluster.core import Cluster
from mlsys_kit.cluster.metrics import summarize
from mlsys_kit.cluster.registry import make_policy
from mlsys_kit.cluster.simulate import simulate
from mlsys_kit.cluster.workload import generate

KEYS = {"policy", "jobs", "jobs_finished", "avg_jct", "p99_jct", "median_jct", "makespan", "utilization",
        "avg_queueing_delay", "p99_queueing_delay", "avg_ftf", "max_ftf", "preemptions", "gpus", "gpu_types"}


@pytest.mark.parametrize("policy", ["fifo", "srtf", "tiresias", "gavel", "pollux"])
def test_simulate_json_equals_the_library(policy, capsys):
    assert main(["cluster", "simulate", "--policy", policy, "--jobs", "40", "--types", "v100:8,k80:8",
                 "--seed", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert KEYS <= set(out) and out["jobs_finished"] == 40
    c = Cluster.from_counts({"v100": 8, "k80": 8})
    jobs = generate(40, "philly", gpus=16, gpu_types=c.gpu_types, seed=2, max_size=8, load=0.8)
    want = summarize(simulate(jobs, c, make_policy(policy)))
    assert out["avg_jct"] == pytest.approx(want["avg_jct"]) and out["makespan"] == pytest.approx(want["makespan"])


def test_plot_and_trace_file(tmp_path, capsys):
    trace = tmp_path / "t.csv"
    trace.write_text("job_id,num_gpu,submit_time,duration\n1,2,0,100\n2,1,10,50\n3,4,20,30\n")
    png = tmp_path / "run.png"
    assert main(["cluster", "simulate", "--trace", str(trace), "--gpus", "4", "--per-machine", "4",
                 "--json", "--plot", str(png)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["jobs_finished"] == 3 and out["workload"] == "trace"
    assert out["avg_jct"] == pytest.approx((100 + 50 + 110) / 3)  # FIFO by hand: job 3 (4 GPUs) waits until 100
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, message", [
    (["--types", "v100:8,a100:8"], "--types must be TYPE:COUNT"),
    (["--types", "v100:0"], "--types must be TYPE:COUNT"),
    (["--gpus", "0"], "--gpus must be a positive integer: got 0"),
    (["--gpus", "8", "--types", "v100:4"], "disagrees with --types"),
    (["--policy", "lottery"], "invalid choice: 'lottery'"),
    (["--heterogeneity", "2"], "heterogeneity must be in [0, 1]"),
    (["--spread-factor", "2"], "spread_factor must be in (0, 1]"),
    (["--trace", "/nonexistent.csv"], "trace file not found"),
])
def test_bad_input_exits_2(args, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(["cluster", "simulate", "--jobs", "5", *args])
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_the_installed_command_runs():
    res = subprocess.run([str(Path(sys.executable).parent / "mlsys-kit"), "cluster", "simulate", "--policy", "srtf",
                          "--jobs", "20", "--gpus", "16", "--json"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["jobs_finished"] == 20


def test_fit_prints_what_fit_report_returns(monkeypatch, capsys):
    import mlsys_kit.cluster.fit as fit

    seen = {}

    def fake(seed=0):
        seen["seed"] = seed
        return {"throughput_rel_error": 0.05, "noise_scale": 12.5, "seed": seed}

    monkeypatch.setattr(fit, "fit_report", fake)
    assert main(["cluster", "fit", "--seed", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"throughput_rel_error": 0.05, "noise_scale": 12.5, "seed": 3}
    assert seen == {"seed": 3}
