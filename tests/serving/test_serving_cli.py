"""The ``mlsys-kit serve`` commands: JSON keys, plots, fit round trip, exit status 2 on bad input."""

import json

import pytest

from mlsys_kit.cli import main
from mlsys_kit.serving.workload import make_workload, save_trace

KEYS = {"throughput_tokens_per_s", "ttft_p50", "ttft_p99", "tpot_p50", "tpot_p99", "goodput", "simulated_seconds"}


def run_json(capsys, *argv):
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", ["static", "continuous", "vllm", "chunked"])
def test_simulate_json(capsys, name):
    d = run_json(capsys, "serve", "simulate", "--scheduler", name, "--requests", "300", "--rate", "8", "--json")
    assert KEYS <= set(d) and d["requests"] == 300 and d["scheduler"] == name
    assert d["ttft_p99"] >= d["ttft_p50"] > 0 and 0 <= d["slo_attainment"] <= 1


def test_simulate_replays_a_trace(capsys, tmp_path):
    path = save_trace(make_workload(50, 5.0, seed=3), tmp_path / "t.jsonl")
    d = run_json(capsys, "serve", "simulate", "--trace", str(path), "--json")
    assert d["requests"] == 50


@pytest.mark.parametrize("swap", ["0", "64"])
def test_run_real_engine_matches_reference(capsys, tmp_path, swap):
    d = run_json(capsys, "serve", "run", "--scheduler", "vllm", "--requests", "12", "--prompt-len", "8",
                 "--output-len", "8", "--lengths", "uniform", "--blocks", "4", "--block-size", "8", "--swap-blocks", swap,
                 "--plot", str(tmp_path / "tl.png"), "--json")
    assert KEYS | {"outputs_match_reference"} <= set(d)
    assert d["outputs_match_reference"] is True and d["preemptions"] > 0
    assert (tmp_path / "tl.png").stat().st_size > 1000


def test_sweep_plot_and_fit_round_trip(capsys, tmp_path):
    d = run_json(capsys, "serve", "sweep", "--rates", "2", "6", "--schedulers", "static", "chunked", "--requests", "200",
                 "--plot", str(tmp_path / "s.png"), "--json")
    assert [r["rate"] for r in d["schedulers"]["chunked"]] == [2.0, 6.0]
    assert "throughput_at_budget" not in d
    d = run_json(capsys, "serve", "sweep", "--rates", "1", "2", "4", "8", "16", "--schedulers", "static", "continuous",
                 "--requests", "300", "--latency-budget", "5", "--json")
    at = d["throughput_at_budget"]
    assert d["latency_budget"] == 5.0 and at["continuous"] > at["static"] > 0  # Orca: more at equal latency
    assert (tmp_path / "s.png").stat().st_size > 1000
    fit = run_json(capsys, "serve", "fit", "--requests", "6", "--out", str(tmp_path / "c.json"), "--json")
    assert fit["iterations"] >= 4 and min(fit[k] for k in "abcd") >= 0
    d = run_json(capsys, "serve", "simulate", "--cost", str(tmp_path / "c.json"), "--requests", "50", "--json")
    assert d["requests"] == 50


@pytest.mark.parametrize("argv", [
    ["serve", "simulate", "--rate", "0"],
    ["serve", "simulate", "--scheduler", "fifo"],
    ["serve", "simulate", "--cost", "1,2"],
    ["serve", "simulate", "--trace", "/nonexistent.jsonl"],
    ["serve", "sweep", "--rates", "1", "--schedulers", "fifo"],
    ["serve", "simulate", "--scheduler", "chunked", "--token-budget", "8"],
    ["serve", "sweep", "--rates", "1", "--latency-budget", "0"],
])
def test_bad_input_exits_2(capsys, argv):
    with pytest.raises(SystemExit) as err:
        main(argv)
    assert err.value.code == 2
    assert "error:" in capsys.readouterr().err
