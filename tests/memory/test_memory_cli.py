"""``mlsys-kit memory plan|run|offload`` (public JSON interface), plots, bad input, demo section."""

import json

import pytest

from mlsys_kit.cli import main

PLAN_KEYS = ("peak_bytes", "step_time", "recompute_flops", "offloaded_bytes", "stall_time", "fits")


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("policy", ["all", "every-k", "sqrt", "optimal", "offload", "hybrid"])
def test_plan_json_keys(capsys, policy):
    out = _json(capsys, ["memory", "plan", "--preset", "gpt2", "--layers", "6", "--batch", "4",
                         "--budget-gb", "6", "--policy", policy, "--link-gbps", "16", "--k", "2", "--json"])
    for key in PLAN_KEYS:
        assert key in out
    assert out["policy"] == policy and len(out["plan"]) == 6
    assert type(out["fits"]) is bool and out["peak_bytes"] > 0
    if policy in ("all", "offload"):
        assert out["recompute_flops"] == 0
    if policy in ("sqrt", "every-k"):
        assert out["recompute_flops"] > 0 and out["stall_time"] == 0
    if policy == "offload":
        assert out["offloaded_bytes"] > 0


def test_plan_plot_and_timeline(capsys, tmp_path):
    f = tmp_path / "m.png"
    out = _json(capsys, ["memory", "plan", "--preset", "vgg16", "--batch", "256", "--policy", "offload",
                         "--budget-gb", "12", "--link-gbps", "12.8", "--json", "--timeline", "--plot", str(f)])
    assert out["fits"] is True and out["memory"][0][1] == out["chain"]["static"]["weights"] * 2
    assert {o["stream"] for o in out["timeline"]} == {"compute", "link"}
    assert f.read_bytes()[:4] == b"\x89PNG"
    assert main(["memory", "plan", "--policy", "sqrt", "--layers", "4"]) == 0
    assert "recomputed 4 layer forwards" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["plan", "--policy", "magic"], "--policy must be one of"),
    (["plan", "--policy", "optimal"], "needs a memory budget"),
    (["plan", "--policy", "offload"], "link bandwidth"),
    (["plan", "--policy", "every-k"], "needs k"),
    (["plan", "--policy", "all", "--batch", "0"], "--batch must be a positive integer"),
    (["plan", "--policy", "all", "--budget-gb", "-1"], "--budget-gb must be a positive"),
    (["plan", "--policy", "all", "--preset", "gpt5"], "--preset must be one of"),
    (["plan", "--policy", "all", "--preset", "vgg16", "--seq", "8"], "fixed 224x224"),
    (["run", "--policy", "all", "--preset", "gpt2"], "--preset must be one of"),
    (["offload", "--params", "1.5"], "--params"),
])
def test_bad_input_exits_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(["memory"] + argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_run_json(capsys, tmp_path):
    f = tmp_path / "r.png"
    out = _json(capsys, ["memory", "run", "--policy", "sqrt", "--json", "--plot", str(f)])
    assert out["matches_plain_step"] is True
    assert out["saved_bytes_measured"] == out["saved_bytes_predicted"]
    assert out["recompute_count_measured"] == out["recompute_count_predicted"] == 2
    assert f.read_bytes()[:4] == b"\x89PNG"
    out = _json(capsys, ["memory", "run", "--policy", "offload", "--json"])
    assert out["offloaded_bytes_measured"] == out["offloaded_bytes_predicted"] > 0 and out["plan"] == "SK"


def test_offload_json(capsys, tmp_path):
    out = _json(capsys, ["memory", "offload", "--params", "13B", "--activations-gb", "6", "--json",
                         "--plot", str(tmp_path / "o.png")])
    assert out["device_bytes"] == 32e9 and out["fits"] is True and out["max_params_offload"] == 13_000_000_000
    assert out["host_bytes"] == 182e9 and out["baseline_device_bytes"] == 214e9


def test_demo_section():
    from mlsys_kit.memory.demo import section

    msgs = []
    sec = section(msgs.append)
    rows = dict(sec.rows)
    assert rows["real tiny GPT: every policy matches the plain step (bitwise)"] is True
    assert rows["real tiny GPT: saved bytes measured == predicted, every policy"] is True
    assert rows["sqrt(n): recompute time in forward passes (paper: one)"] == 1.0
    assert rows["vDNN VGG-16 b=256: offload-all peak GB, fits 12 GB"].endswith("True")
    assert rows["op level: operator optimum <= best block plan at every budget (12 budgets)"] is True
    assert rows["real op-level plans (sqrt, min-cut, optimal) on the micro GPT: bitwise, saved bytes and "
                "recomputed FLOPs measured == predicted"] is True
    assert len(sec.figures) == 4 and all(f.png[:4] == b"\x89PNG" for f in sec.figures)
    assert all(f.command.startswith("mlsys-kit memory") for f in sec.figures) and msgs
