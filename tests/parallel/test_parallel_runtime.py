"""Real tensor (and sequence) parallelism on gloo: at t = 2 and 4 the loss and every gradient
equal the single-process model, and the bytes each rank sends, counted, equal the model."""

import json

import pytest

from mlsys_kit.cli import main
from mlsys_kit.parallel.launch import run_config, run_tensor_parallel


def _check(r):
    assert r["matches_single_process"] is True, r
    assert r["gradients_compared"] == 28  # every parameter of the 2-layer tiny GPT
    assert r["max_abs_diff"] <= r["atol"]
    assert r["bytes_sent_measured"] == r["bytes_sent_predicted"] > 0


def test_t2_through_the_cli(capsys):
    assert main(["parallel", "run", "--tensor", "2", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert {"matches_single_process", "bytes_sent_measured", "bytes_sent_predicted"} <= set(r)
    assert r["tensor"] == 2 and r["sequence_parallel"] is False
    _check(r)


def test_t4_sequence_parallel_and_recompute():
    runs = run_tensor_parallel([run_config(4, True, repeats=1), run_config(4, False, True, repeats=1),
                                run_config(4, True, True, repeats=1)])
    for r in runs:
        _check(r)
    sp, tp_rc, sp_rc = (r["bytes_sent_measured"] for r in runs)
    assert sp_rc > sp  # recomputation re-runs the forward collectives
    assert tp_rc != sp_rc


def test_bad_degree_is_refused():
    with pytest.raises(ValueError, match="must divide the model's n_head=4"):
        run_config(3)
    with pytest.raises(ValueError, match="multiple of t"):
        run_config(4, True, seq=6)
