"""``mlsys-kit fault plan|run|reshard|check`` as a user runs them: the JSON keys issue 27 names,
plan's figures against Young/Daly (Daly 2006 eq. 37 and eq. 12), ``--plot`` PNGs, and exit
status 2 with a clear message on bad input. Each real gloo command runs once."""

import json

import pytest

from mlsys_kit.cli import main
from mlsys_kit.fault.plan import strategy_costs
from mlsys_kit.fault.waste import daly_interval, exact_optimum, exact_waste_fraction, job_mtbf

PNG = b"\x89PNG\r\n\x1a\n"


def run_json(capsys, *argv):
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def is_png(path):
    return path.read_bytes()[:8] == PNG and path.stat().st_size > 1000


@pytest.mark.parametrize("devices, mtbf_h, gb", [(1024, 10_000.0, 1000.0), (64, 2_000.0, 40.0)])
def test_plan_json_against_the_formula(capsys, tmp_path, devices, mtbf_h, gb):
    d = run_json(capsys, "fault", "plan", "--devices", str(devices), "--mtbf-hours", str(mtbf_h), "--checkpoint-gb",
                 str(gb), "--json", "--plot", str(tmp_path / "plan.png"))
    for k in ("interval_s", "young_daly_s", "waste_fraction", "strategies"):
        assert k in d, k
    assert set(d["strategies"]) == {"remote", "in-memory"}
    m = job_mtbf(mtbf_h * 3600, devices)
    assert d["job_mtbf_s"] == pytest.approx(m)
    for name, s in d["strategies"].items():
        c, r = strategy_costs(name, devices, gb * 1e9, 20.0, 400.0, 60.0, 2)
        assert (s["checkpoint_s"], s["restart_s"]) == pytest.approx((c, r))
        assert s["young_daly_s"] == pytest.approx(daly_interval(c, m), rel=1e-12)
        # the simulator's best interval loses within a few % of the exact model's optimum (Daly eq. 12)
        best_exact = exact_waste_fraction(exact_optimum(c, r, m), c, r, m)
        assert s["waste_fraction"] == pytest.approx(best_exact, rel=0.05)
        assert s["waste_fraction"] == pytest.approx(s["waste_exact"], rel=0.05)
        assert 0.5 < s["interval_s"] / s["young_daly_s"] < 2
    # the top level repeats the default strategy's figures; in-memory wastes less than remote storage
    assert d["interval_s"] == d["strategies"]["remote"]["interval_s"]
    assert d["waste_fraction"] == d["strategies"]["remote"]["waste_fraction"]
    assert d["strategies"]["in-memory"]["waste_fraction"] < d["strategies"]["remote"]["waste_fraction"]
    assert is_png(tmp_path / "plan.png")


def test_plan_strategy_and_text(capsys):
    d = run_json(capsys, "fault", "plan", "--devices", "256", "--mtbf-hours", "5000", "--checkpoint-gb", "100",
                 "--strategy", "in-memory", "--replicas", "4", "--json")
    assert d["strategy"] == "in-memory" and d["interval_s"] == d["strategies"]["in-memory"]["interval_s"]
    c, _ = strategy_costs("in-memory", 256, 100e9, 20.0, 400.0, 60.0, 4)
    assert d["young_daly_s"] == pytest.approx(daly_interval(c, job_mtbf(5000 * 3600, 256)))
    assert main(["fault", "plan", "--devices", "256", "--mtbf-hours", "5000", "--checkpoint-gb", "100"]) == 0
    out = capsys.readouterr().out
    assert "remote" in out and "in-memory" in out and "Young/Daly" in out


def test_run_json_and_plot(capsys, tmp_path):
    d = run_json(capsys, "fault", "run", "--kill-at", "3", "--steps", "4", "--json", "--plot", str(tmp_path / "run.png"))
    assert d["matches_uninterrupted"] is True
    assert d["recovered_from"] == "peer-memory"  # the ring peer of the killed rank survived
    assert d["killed"] == {"rank": 1, "signal": "SIGKILL"}
    assert d["recovery_bytes"] > 0 and d["recovery_s"] > 0
    assert d["restart_step"] <= 3 and d["lost_steps"] == 3 - d["restart_step"]
    assert d["losses_after_restart"] == d["losses_uninterrupted"][d["restart_step"]:]
    assert is_png(tmp_path / "run.png")


def test_reshard_json_and_plot(capsys, tmp_path):
    # two ranks each side (the t2,d2,zero1 -> t1,d4,zero3 runs in test_real_runs.py and the demo)
    d = run_json(capsys, "fault", "reshard", "--from", "t1,d2,zero2", "--to", "t2,d1,zero1", "--save-at", "2",
                 "--steps", "4", "--json", "--plot", str(tmp_path / "reshard.png"))
    assert (d["from"], d["to"]) == ("t1,d2,zero2", "t2,d1,zero1")
    assert d["matches_uninterrupted"] is True and d["same_layout_bitwise"] is True
    assert d["checkpoint_bytes"] == sum(d["checkpoint_bytes_per_rank"]) == sum(d["checkpoint_bytes_model"]) > 0
    assert d["bytes_equal_model"] is True
    assert len(d["losses_resumed"]) == 2
    assert d["losses_resumed"] == pytest.approx(d["losses_uninterrupted"][2:], abs=1e-5)
    assert is_png(tmp_path / "reshard.png")


def test_check_json_and_plot(capsys, tmp_path):
    d = run_json(capsys, "fault", "check", "--inject", "skip-allreduce", "--at-step", "2", "--steps", "4", "--json",
                 "--plot", str(tmp_path / "check.png"))
    assert d["detected"] is True
    assert d["detected_at_step"] == d["injected_at_step"] == 2
    assert d["broken"] and set(d["broken"]) <= set(d["invariants"])
    assert all(not d["per_step"][s] for s in range(2))  # nothing flagged before the bug
    assert is_png(tmp_path / "check.png")


@pytest.mark.parametrize("argv, message", [
    (["fault", "plan", "--devices", "0", "--mtbf-hours", "1", "--checkpoint-gb", "1"], "--devices must be a positive integer"),
    (["fault", "plan", "--devices", "4", "--mtbf-hours", "-1", "--checkpoint-gb", "1"], "--mtbf-hours must be a positive"),
    (["fault", "plan", "--devices", "4", "--mtbf-hours", "1", "--checkpoint-gb", "0"], "--checkpoint-gb must be a positive"),
    (["fault", "plan", "--devices", "4", "--mtbf-hours", "1", "--checkpoint-gb", "1", "--replicas", "8"],
     "2 <= replicas <= devices"),
    (["fault", "plan", "--devices", "4", "--mtbf-hours", "1", "--checkpoint-gb", "1", "--strategy", "tape"],
     "invalid choice"),
    (["fault", "plan", "--mtbf-hours", "1", "--checkpoint-gb", "1"], "--devices"),
    (["fault", "run", "--kill-at", "9", "--steps", "6"], "kill_at must be a step inside the run"),
    (["fault", "run", "--kill-at", "2", "--kill-rank", "5"], "kill_rank must be a rank"),
    (["fault", "run", "--kill-at", "2", "--layout", "t3,d2,zero1"], "cannot be split over t=3"),
    (["fault", "run", "--kill-at", "2", "--layout", "d2"], "a layout is written t<T>,d<D>,zero<S>"),
    (["fault", "run", "--kill-at", "2", "--lose", "9"], "failed machines must be ranks"),
    (["fault", "run", "--kill-at", "0"], "--kill-at must be a positive integer"),
    (["fault", "reshard", "--from", "t2,d2", "--to", "t1,d4,zero3"], "a layout is written"),
    (["fault", "reshard", "--from", "t2,d2,zero1", "--to", "t1,d4,zero3", "--save-at", "7"], "save_at must be a step"),
    (["fault", "reshard", "--from", "t2,d2,zero1", "--to", "t5,d1,zero1"], "cannot be split over t=5"),
    (["fault", "reshard", "--from", "t2,d2,zero1"], "--to"),
    (["fault", "check", "--inject", "bogus"], "invalid choice"),
    (["fault", "check", "--inject", "stale-shard", "--at-step", "9"], "at_step must be a step of the run"),
    (["fault", "check", "--inject", "double-scale", "--ranks", "1"], "needs 2 to 8 ranks"),
    (["fault"], "SUBCOMMAND"),
])
def test_bad_input_exits_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
