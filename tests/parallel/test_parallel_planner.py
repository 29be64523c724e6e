"""The planner: the exhaustive search against a plain loop over the same plans, the Alpa-style
stage partition against brute force, and the JSON the CLI prints."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlsys_kit.cli import main
from mlsys_kit.parallel.model import Cluster, evaluate, model_config
from mlsys_kit.parallel.planner import KEYS, brute_force_partition, candidates, partition_stages, plan


def test_the_best_plan_is_the_fastest_that_fits_by_a_plain_loop():
    cfg, cl, space = model_config("llama2-7b"), Cluster(16), {"microbatches": (1, 2), "interleaves": (1, 2)}
    res = plan(cfg, cl, 64, top=3, **space)
    plans, _ = candidates(cfg, cl, 64, **space)
    rows = [evaluate(cfg, cl, p, 64) for p in plans]
    fastest = min((r for r in rows if r["fits"]), key=lambda r: r["step_time"])
    assert res["plans"][0]["step_time"] == fastest["step_time"]
    times = [p["step_time"] for p in res["plans"]]
    assert times == sorted(times) and all(p["fits"] for p in res["plans"])
    assert sum(res["lost"].values()) == res["searched"] - len(res["plans"])
    assert res["heatmap"][f"{fastest['tensor']}x{fastest['pipeline']}"] == fastest["step_time"]
    assert any(v is None for v in res["heatmap"].values()) == any(
        not any(r["fits"] for r in rows if (r["tensor"], r["pipeline"]) == (t, p))
        for t, p in {(r["tensor"], r["pipeline"]) for r in rows})


def test_nothing_fits_says_so():
    with pytest.raises(ValueError, match="no plan fits llama2-70b"):
        plan(model_config("llama2-70b"), Cluster(2, device="a100-40gb"), 8)


layer_lists = st.lists(st.tuples(st.floats(0.1, 5), st.floats(0.1, 5), st.floats(0.0, 3), st.floats(0.0, 3)),
                       min_size=2, max_size=7)


@settings(max_examples=40, deadline=None)
@given(layers=layer_lists, p=st.integers(1, 3), m=st.integers(1, 8), limit=st.floats(2, 20))
def test_alpa_partition_equals_brute_force(layers, p, m, limit):
    if len(layers) < p:
        return
    times = [[a, b] for a, b, _, _ in layers]  # two intra-stage options per layer (e.g. recompute or not)
    memory = [[c, d] for _, _, c, d in layers]
    in_flight = [float(p - s) for s in range(p)]
    expected = brute_force_partition(times, memory, p, m, limit, in_flight)
    if expected == float("inf"):
        with pytest.raises(ValueError, match="no partition"):
            partition_stages(times, memory, p, m, limit, in_flight)
        return
    got = partition_stages(times, memory, p, m, limit, in_flight)
    assert got["objective"] == pytest.approx(expected)
    stages = got["stages"]
    assert stages[0][0] == 0 and stages[-1][1] == len(layers)
    assert all(a[1] == b[0] for a, b in zip(stages, stages[1:]))


def test_alpa_partition_uses_the_simulators_in_flight_counts():
    # four equal layers, memory 1 each: the first of 2 stages holds 2 microbatches in 1F1B
    got = partition_stages([[1.0]] * 4, [[1.0]] * 4, 2, 4, 3.0)
    assert [j - i for i, j, _ in got["stages"]] == [1, 3]


def test_cli_plan_json_has_the_issue_keys(capsys):
    assert main(["parallel", "plan", "--preset", "llama2-7b", "--devices", "16", "--devices-per-node", "8",
                 "--global-batch", "64", "--top", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["plans"]) == 3
    for p in out["plans"]:
        assert set(KEYS) <= set(p)
        assert type(p["tensor"]) is int and type(p["fits"]) is bool and p["fits"]
        assert p["tensor"] * p["pipeline"] * p["data"] == 16


def test_cli_plan_plot_and_bad_input(tmp_path, capsys):
    f = tmp_path / "plan.png"
    assert main(["parallel", "plan", "--preset", "gpt2", "--devices", "8", "--global-batch", "16",
                 "--plot", str(f)]) == 0
    assert f.read_bytes()[:4] == b"\x89PNG"
    assert "why the others lost" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["parallel", "plan", "--preset", "gpt2", "--devices", "12", "--global-batch", "16"])
    assert e.value.code == 2
    assert "multiple of devices_per_node" in capsys.readouterr().err


def test_megatron_takeaway_tensor_inside_a_node_pipeline_across():
    res = plan(model_config("llama2-70b"), Cluster(64), 512, top=1, microbatches=(1, 2), interleaves=(1, 2),
               zero_stages=(1,))
    best = res["plans"][0]
    assert 1 < best["tensor"] <= 8 and best["pipeline"] > 1  # t within the 8-GPU node, p across nodes
    assert all(v is None or v > best["step_time"] for k, v in res["heatmap"].items() if int(k.split("x")[0]) > 8)
