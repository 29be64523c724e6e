"""``mlsys-kit feed comm|byteps|data``: stable JSON keys equal to the library's values, plots,
and bad input exiting 2 with what was wrong."""

import json

import pytest

from mlsys_kit.cli import main
from mlsys_kit.feed import comm_real, data_real
from mlsys_kit.feed.byteps import byteps_time
from mlsys_kit.feed.comm import Layer, Network, iteration_time, model_layers
from mlsys_kit.feed.data import simulate_data

PNG = b"\x89PNG\r\n\x1a\n"


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("policy", ["fifo", "bucket", "bytescheduler"])
def test_comm_json_equals_the_simulator(capsys, policy):
    out = _json(capsys, ["feed", "comm", "--policy", policy, "--model", "gpt2", "--batch", "4", "--workers", "4",
                         "--bandwidth-gbps", "25", "--latency-us", "20", "--partition", "1M", "--credit", "4M",
                         "--bucket-bytes", "8M", "--json"])
    kw = {"bucket": {"bucket_bytes": 8_000_000}, "bytescheduler": {"partition": 1_000_000, "credit": 4_000_000}}
    t = iteration_time(model_layers("gpt2", 4), Network(25e9 / 8, 20e-6, 4), policy, **kw.get(policy, {}))
    assert out["policy"] == policy
    assert out["iteration_time"] == t.iteration_time and out["overlap_fraction"] == t.overlap_fraction
    assert set(out["all_policies"]) == {"fifo", "bucket", "bytescheduler"}


def test_comm_hand_layers_search_and_plots(capsys, tmp_path):
    # the hand case of test_comm.py: 100 B/s on 2 workers, chunks of 50 B, one in flight
    out = _json(capsys, ["feed", "comm", "--layers", "1000,2000,100", "1000,2000,100", "1000,2000,400",
                         "--workers", "2", "--bandwidth-gbps", "8e-7", "--latency-us", "0",
                         "--partition", "50", "--credit", "50", "--json", "--plot", str(tmp_path / "t.png")])
    assert out["iteration_time"] == pytest.approx(10.0) and out["all_policies"]["fifo"] == pytest.approx(11.0)
    assert (tmp_path / "t.png").read_bytes()[:8] == PNG
    out = _json(capsys, ["feed", "comm", "--layers", "10,20,3000", "10,20,5000", "2,4,40000", "--workers", "4",
                         "--bandwidth-gbps", "0.008", "--latency-us", "1000", "--partition", "512", "--credit", "512",
                         "--search", "--json", "--plot", str(tmp_path / "s.png")])
    assert out["search"]["iteration_time"] <= out["search"]["fifo_iteration_time"]
    assert (tmp_path / "s.png").read_bytes()[:8] == PNG


def test_comm_real_wires_the_gloo_run(capsys, monkeypatch, tmp_path):
    seen = {}

    def fake_run_real(**kw):  # the gloo run itself is tested in test_comm_real.py
        seen.update(kw)
        return {"ranks": kw["ranks"], "backend": "gloo", "steps": kw["steps"], "matches_ddp": True, "bitwise": True,
                "policies": {p: {"iteration_time_s": 0.01, "simulated_s": 0.02, "max_abs_diff": 0.0, "bitwise": True}
                             for p in ("fifo", "bucket", "bytescheduler")},
                "measured_order": ["fifo"], "simulated_order": ["fifo"], "same_order": True}

    monkeypatch.setattr(comm_real, "run_real", fake_run_real)
    out = _json(capsys, ["feed", "comm", "--real", "--ranks", "3", "--steps", "2", "--json",
                         "--plot", str(tmp_path / "r.png")])
    assert seen == {"ranks": 3, "steps": 2} and out["matches_ddp"] is True
    assert (tmp_path / "r.png").read_bytes()[:8] == PNG


def test_byteps_json(capsys, tmp_path):
    out = _json(capsys, ["feed", "byteps", "--gpus", "8", "--cpus", "4", "--model-mb", "100", "--bandwidth-gbps", "8",
                         "--json", "--plot", str(tmp_path / "b.png")])
    assert out["byteps_time"] == pytest.approx(byteps_time(8, 4, 100e6, 1e9)) == pytest.approx(0.1 * 112 / 88)
    assert out["byteps_time"] == pytest.approx(out["lower_bound_time"])
    assert (tmp_path / "b.png").read_bytes()[:8] == PNG


@pytest.mark.parametrize("cache", ["lru", "minio"])
def test_data_json_equals_the_simulator(capsys, cache):
    out = _json(capsys, ["feed", "data", "--cache", cache, "--dataset-gb", "200", "--memory-gb", "50", "--json"])
    want = simulate_data(cache, 200.0, 50.0)
    for key in ("hit_rate", "stall_fraction", "bytes_read"):
        assert out[key] == want[key]


def test_data_real_wires_the_dataloader(capsys, monkeypatch):
    seen = {}

    def fake_real_data(**kw):  # the DataLoader itself is tested in test_data_real*.py
        seen.update(kw)
        return {"matches_simulator": True}

    monkeypatch.setattr(data_real, "real_data", fake_real_data)
    out = _json(capsys, ["feed", "data", "--real", "--files", "50", "--memory-fraction", "0.25", "--epochs", "2",
                         "--json"])
    assert seen == {"n_files": 50, "memory_fraction": 0.25, "epochs": 2} and out["matches_simulator"] is True


@pytest.mark.parametrize("argv, message", [
    (["feed", "comm", "--policy", "lifo"], "--policy must be one of fifo, bucket, bytescheduler"),
    (["feed", "comm", "--workers", "1"], "--workers must be at least 2"),
    (["feed", "comm", "--layers", "1,2"], "--layers must be FORWARD_MS,BACKWARD_MS,GRAD_BYTES"),
    (["feed", "comm", "--partition", "8M", "--credit", "4M"], "--credit must be at least one --partition"),
    (["feed", "comm", "--plot", "x.txt"], "--plot file must end in .png"),
    (["feed", "comm", "--real", "--ranks", "9"], "ranks must be 2, 3 or 4"),
    (["feed", "byteps", "--gpus", "1", "--cpus", "0"], "gpus must be at least 2"),
    (["feed", "byteps", "--gpus", "4", "--cpus", "-1"], "--cpus must be a non-negative integer"),
    (["feed", "data", "--cache", "fifo"], "--cache must be one of lru, minio"),
    (["feed", "data", "--dataset-gb", "0"], "--dataset-gb must be a positive finite number"),
    (["feed", "data", "--real", "--memory-fraction", "2"], "memory_fraction must be in (0, 1]"),
])
def test_bad_input_exits_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
