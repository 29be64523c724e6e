"""`mlsys-kit pipeline simulate|run`: JSON keys, plots, exit status 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mlsys_kit.cli import main
from mlsys_kit.pipeline.generators import make_schedule
from mlsys_kit.pipeline.simulate import simulate


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name, v", [("gpipe", 1), ("1f1b", 1), ("interleaved-1f1b", 2), ("zb-h1", 1), ("zb-v", 2)])
def test_simulate_json_matches_library(capsys, name, v):
    out = _json(capsys, ["pipeline", "simulate", "--schedule", name, "--stages", "4", "--microbatches", "8",
                         "--cost-b", "2", "--cost-w", "0.5", "--latency", "0.1", "--json"])
    ref = simulate(make_schedule(name, 4, 8, 2), 1.0, 2.0, 0.5, 0.1, costs_per_rank=True)
    assert out["valid"] is True
    assert out["makespan"] == pytest.approx(ref.makespan)
    assert out["bubble_fraction"] == pytest.approx(ref.bubble_fraction)
    assert out["bubble_rate"] == pytest.approx(ref.bubble_rate)
    assert out["peak_activations"] == ref.peak_activations and len(out["peak_activations"]) == 4
    assert out["chunks"] == v


def test_simulate_plot_and_text(capsys, tmp_path):
    png = tmp_path / "g.png"
    assert main(["pipeline", "simulate", "--schedule", "1f1b", "--stages", "4", "--microbatches", "8",
                 "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "bubble_fraction  0.3750" in text
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, needle", [
    (["--schedule", "1f1b", "--stages", "4", "--microbatches", "2"], "at least as many microbatches"),
    (["--schedule", "interleaved-1f1b", "--stages", "4", "--microbatches", "6"], "multiple of p"),
    (["--schedule", "gpipe", "--stages", "0", "--microbatches", "2"], "--stages must be a positive integer"),
    (["--schedule", "gpipe", "--stages", "2", "--microbatches", "2", "--cost-f", "-1"], "--cost-f must be"),
    (["--schedule", "nope", "--stages", "2", "--microbatches", "2"], "invalid choice"),
])
def test_simulate_bad_input_exits_2(argv, needle):
    proc = subprocess.run([sys.executable, "-m", "mlsys_kit.cli", "pipeline", "simulate", *argv],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and needle in proc.stderr


def test_run_json(capsys, tmp_path):
    png = tmp_path / "run.png"
    out = _json(capsys, ["pipeline", "run", "--schedule", "zb-h1", "--stages", "2", "--microbatches", "4",
                         "--hidden", "16", "--repeats", "1", "--json", "--plot", str(png)])
    assert out["match"] is True and out["max_diff"] <= 1e-6 and out["step_time_s"] > 0
    assert out["backend"] == "gloo" and out["peak_activations"] == [2.0, 2.0]
    assert png.exists()
