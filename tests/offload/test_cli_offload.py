"""``mlsys-kit offload plan|run|prefetch``: JSON with stable keys, figures, and exit status 2 with
a clear message on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mlsys_kit.cli import main
from mlsys_kit.offload import config, cost
from mlsys_kit.offload.infinigen import prefetch_eval, skew
from mlsys_kit.offload.train import calibration_ids, eval_ids, trained_gpt

PNG = b"\x89PNG\r\n\x1a\n"


def run_json(capsys, *args: str) -> dict:
    assert main(["offload", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_plan_as_a_user_runs_it(tmp_path):
    res = subprocess.run([sys.executable, "-m", "mlsys_kit.cli", "offload", "plan", "--model", "opt-175b", "--device",
                          "t4-16gb", "--host-gb", "208", "--disk-gb", "1500", "--json", "--plot", str(tmp_path / "p.png")],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    for key in ("tokens_per_s", "batch", "batch_size", "num_batches", "placement", "bytes", "resident"):
        assert key in out
    assert out["batch"] == out["batch_size"] * out["num_batches"]
    for kind in config.KINDS:
        assert sum(out["placement"][kind].values()) == pytest.approx(100.0)
    hw = config.hardware("t4-16gb", 208, 1500)
    assert all(out["resident"][t.name] <= t.capacity_bytes for t in hw.tiers) and out["fits"]
    # the reported throughput is the cost model's for the reported policy
    pol = config.Policy(out["batch_size"], out["num_batches"],
                        config.Placement(*(tuple(out["placement"][k][t] for t in config.TIERS) for k in config.KINDS)))
    again = cost.generation(config.model("opt-175b"), hw, pol, config.Workload(), "zigzag")
    assert again["tokens_per_s"] == pytest.approx(out["tokens_per_s"], rel=1e-6)
    assert (tmp_path / "p.png").read_bytes()[:8] == PNG


def test_plan_row_by_row_is_never_faster_than_zigzag(capsys):
    args = ["plan", "--model", "opt-30b", "--host-gb", "64", "--gen-len", "8"]
    row = run_json(capsys, *args, "--schedule", "row")
    zig = run_json(capsys, *args, "--schedule", "zigzag")
    assert row["schedule"] == "row" and zig["tokens_per_s"] >= row["tokens_per_s"] * (1 - 1e-9)


def test_run_matches_the_plain_run_and_the_cost_model(capsys, tmp_path):
    out = run_json(capsys, "run", "--preset", "micro", "--prompt-len", "8", "--gen-len", "3", "--plot",
                   str(tmp_path / "r.png"))
    assert out["outputs_match_reference"] is True
    assert out["bytes_moved_measured"] == out["bytes_moved_predicted"]
    assert set(out["bytes_moved_measured"]) == set(cost.LINKS)
    assert out["device_peak_bytes"] <= out["device_capacity_bytes"]
    assert (tmp_path / "r.png").read_bytes()[:8] == PNG
    row = run_json(capsys, "run", "--preset", "micro", "--prompt-len", "8", "--gen-len", "3", "--schedule", "row",
                   "--weights", "0,50,50", "--kv", "0,100,0", "--activations", "0,0,100", "--batch-size", "1",
                   "--num-batches", "2", "--torch-device", "cpu")
    assert row["placement"]["activations"] == {"device": 0.0, "host": 0.0, "disk": 100.0}
    assert row["outputs_match_reference"] and row["bytes_match"] and row["bytes_moved_measured"]["host_to_disk"] > 0


def test_prefetch_reports_the_evaluation(capsys, tmp_path):
    out = run_json(capsys, "prefetch", "--fraction", "0.3", "--length", "128", "--prompt-len", "32",
                   "--plot", str(tmp_path / "f.png"))
    model = trained_gpt()
    want = prefetch_eval(model, eval_ids(128), 32, 0.3, skew(model, calibration_ids(), 0.25))
    assert out["attention_mass"] == pytest.approx(want["attention_mass"], abs=1e-9)
    assert out["max_abs_error"] == pytest.approx(want["max_abs_error"], abs=1e-9)
    assert out["bytes_fetched"] == want["bytes_fetched"] == out["bytes_fetched_measured"] < out["bytes_full"]
    assert out["decode_loop_max_abs_diff"] < 1e-4
    assert (tmp_path / "f.png").read_bytes()[:8] == PNG
    text = main(["offload", "prefetch", "--fraction", "1"])
    assert text == 0 and "attention_mass" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["prefetch", "--fraction", "0"], "--fraction must be in (0, 1]: got 0.0"),
    (["prefetch", "--fraction", "1.5"], "--fraction must be in (0, 1]"),
    (["prefetch", "--fraction", "x"], "--fraction must be a number: got 'x'"),
    (["prefetch", "--columns", "best"], "invalid choice: 'best'"),
    (["prefetch", "--length", "100", "--prompt-len", "120"], "--prompt-len must be below --length"),
    (["prefetch", "--length", "900"], "length must be in 2..256"),
    (["plan", "--model", "gpt5"], "invalid choice: 'gpt5'"),
    (["plan", "--schedule", "diagonal"], "invalid choice: 'diagonal'"),
    (["plan", "--host-gb", "-1"], "--host-gb must be a non-negative finite number"),
    (["plan", "--host-gb", "0", "--disk-gb", "0"], "no policy fits opt-175b"),
    (["plan", "--plot", "x.txt"], "plot file must end in .png"),
    (["run", "--weights", "50,60,0"], "--weights must be three percentages device,host,disk summing to 100"),
    (["run", "--kv", "50,50"], "--kv must be three percentages"),
    (["run", "--preset", "micro", "--device-mb", "0.01", "--weights", "100,0,0"], "the device tier holds at most 10000 bytes"),
    (["run", "--preset", "micro", "--prompt-len", "250", "--gen-len", "10"], "at most n_positions=256"),
    (["offload"], "invalid choice"),
])
def test_bad_input_exits_2_with_a_clear_message(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["offload", *args] if args != ["offload"] else ["offload", "nothing"]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
