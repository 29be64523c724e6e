"""``mlsys-kit serve disagg|place``: the JSON keys the issue names, plots, exit status 2 on bad input."""

import json

import pytest

from mlsys_kit.cli import main


def run_json(capsys, *argv):
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_disagg_json_and_plot(capsys, tmp_path):
    d = run_json(capsys, "serve", "disagg", "--prefill", "2", "--decode", "1", "--rate", "6", "--ttft-slo", "0.25",
                 "--tpot-slo", "0.1", "--link-gbps", "100", "--requests", "80", "--json", "--plot", str(tmp_path / "r.png"))
    for k in ("goodput", "attainment", "ttft_p50", "ttft_p99", "tpot_p50", "tpot_p99", "kv_bytes_moved"):
        assert k in d, k
    assert 0 <= d["attainment"] <= 1 and d["goodput"] >= 0 and d["devices"] == 3
    assert d["ttft_p99"] >= d["ttft_p50"] > 0 and d["kv_bytes_moved"] > 0
    assert (tmp_path / "r.png").stat().st_size > 1000
    slow = run_json(capsys, "serve", "disagg", "--rate", "6", "--link-gbps", "1", "--requests", "80", "--json")
    assert slow["ttft_p50"] > d["ttft_p50"] and slow["kv_bytes_moved"] == d["kv_bytes_moved"]


def test_place_json(capsys, tmp_path):
    d = run_json(capsys, "serve", "place", "--devices", "3", "--tps", "1", "--requests", "60", "--ttft-slo", "0.4",
                 "--tpot-slo", "0.04", "--json", "--plot", str(tmp_path / "p.png"))
    assert {"best", "goodput_per_device", "colocated", "colocated_goodput_per_device", "candidates"} <= set(d)
    assert d["best"]["prefill"] + d["best"]["decode"] == 3
    assert d["goodput_per_device"] == max(c["goodput_per_device"] for c in d["candidates"])
    assert (tmp_path / "p.png").stat().st_size > 1000


@pytest.mark.parametrize("argv, message", [
    (["serve", "disagg", "--prefill", "0"], "--prefill must be a positive integer"),
    (["serve", "disagg", "--rate", "-1"], "--rate must be a positive finite number"),
    (["serve", "disagg", "--link-gbps", "0"], "--link-gbps must be a positive finite number"),
    (["serve", "disagg", "--model", "gpt5"], "invalid choice"),
    (["serve", "disagg", "--decode-tp", "2", "--model", "llama2-70b", "--prefill-tp", "1"], "does not fit"),
    (["serve", "place", "--devices", "1", "--tps", "1"], "no placement"),
    (["serve", "place"], "--devices"),
])
def test_bad_input_exits_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_disagg_real_json(capsys, tmp_path):
    d = run_json(capsys, "serve", "disagg", "--real", "--requests", "2", "--prompt-len", "12", "--output-len", "4",
                 "--json", "--plot", str(tmp_path / "pair.png"))
    assert d["outputs_match_reference"] is True
    assert d["kv_bytes_moved_measured"] == d["kv_bytes_moved_predicted"] > 0
    assert (tmp_path / "pair.png").stat().st_size > 1000
