"""``mlsys-kit memory plan --level op`` and ``memory run --level op`` (JSON keys, bad input)."""

import json

import pytest

from mlsys_kit.cli import main


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_plan_op_level_gpt2_small_on_meta(capsys):
    out = _json(capsys, ["memory", "plan", "--level", "op", "--preset", "gpt2", "--layers", "2", "--batch", "1",
                         "--seq", "64", "--policy", "optimal", "--budget-gb", "0.002", "--json"])
    assert out["level"] == "op" and out["fits"] and out["saved_bytes"] <= 2e6
    assert out["graph"]["keep_all_saved_bytes"] > out["saved_bytes"] and out["recompute_flops"] > 0


def test_op_levels_side_by_side_on_one_budget(capsys):
    argv = ["memory", "plan", "--level", "op", "--preset", "micro", "--batch", "2", "--seq", "16", "--json",
            "--budget-gb", "0.00005", "--policy"]
    block, op = (_json(capsys, argv + [p]) for p in ("block-optimal", "optimal"))
    assert op["recompute_flops"] <= block["recompute_flops"] and op["saved_bytes"] <= 5e4


def test_run_op_level_json(capsys):
    out = _json(capsys, ["memory", "run", "--level", "op", "--policy", "min-cut", "--json"])
    assert out["bitwise_equal"] and out["saved_bytes_measured"] == out["saved_bytes_predicted"]
    assert out["recompute_matmul_flops_measured"] == 0


def test_decompose_inductor_plans_on_the_finer_graph(capsys):
    argv = ["memory", "plan", "--level", "op", "--preset", "micro", "--batch", "2", "--seq", "16", "--json",
            "--policy", "optimal", "--budget-gb", "0.00005"]
    coarse, fine = _json(capsys, argv), _json(capsys, argv + ["--decompose", "inductor"])
    assert coarse["decompose"] == "none" and fine["decompose"] == "inductor"
    assert fine["graph"]["saveable"] > coarse["graph"]["saveable"] and fine["fits"] and fine["saved_bytes"] <= 5e4


def test_run_decompose_inductor_json(capsys):
    out = _json(capsys, ["memory", "run", "--level", "op", "--policy", "optimal", "--decompose", "inductor", "--json"])
    assert out["bitwise_equal"] and out["reference"] == "inductor-decomposed keep-all" and out["eager_allclose"]
    assert out["saved_bytes_measured"] == out["saved_bytes_predicted"]


@pytest.mark.parametrize("argv, words", [
    (["plan", "--level", "block", "--policy", "all", "--decompose", "inductor"], "--decompose applies to --level op"),
    (["plan", "--level", "op", "--preset", "micro", "--policy", "all", "--decompose", "xla"], "--decompose"),
    (["plan", "--level", "op", "--preset", "vgg16", "--policy", "optimal"], "GPT preset"),
    (["plan", "--level", "block", "--policy", "min-cut"], "--policy at --level block"),
    (["plan", "--level", "op", "--policy", "hybrid", "--preset", "micro"], "--policy at --level op"),
    (["plan", "--level", "block", "--preset", "tiny", "--policy", "all"], "--preset at --level block"),
    (["plan", "--level", "nope", "--policy", "all"], "--level"),
    (["run", "--level", "op", "--policy", "optimal", "--k", "2"], "--k"),
])
def test_bad_input_exits_2(capsys, argv, words):
    with pytest.raises(SystemExit) as e:
        main(["memory"] + argv)
    assert e.value.code == 2 and words in capsys.readouterr().err
