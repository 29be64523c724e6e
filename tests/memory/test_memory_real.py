"""The real check: torch runs the plans on the tiny GPT; what autograd saves, what the hooks
offload and how often blocks run equal the chain model; loss and gradients equal the plain step."""

import pytest
import torch

from mlsys_kit.memory.chain import gpt_chain
from mlsys_kit.memory.real import outside_saved_bytes, run_plan
from mlsys_kit.models.gpt import preset


@pytest.mark.parametrize("plan", ["KK", "CR", "CC", "SK", "SS", "KC", "SC"])
def test_every_plan_on_the_micro_gpt(plan):
    r = run_plan(plan, "micro", batch=2, seq=16)
    assert r["bitwise_equal"] and r["matches_plain_step"] and r["max_abs_grad_diff"] == 0
    assert r["saved_bytes_measured"] == r["saved_bytes_predicted"]
    assert r["offloaded_bytes_measured"] == r["offloaded_bytes_predicted"]
    assert r["recompute_count_measured"] == r["recompute_count_predicted"] == plan.count("C") + plan.count("R")


def test_mixed_plan_on_the_tiny_gpt_other_shape():
    r = run_plan("KCRS", "tiny", batch=3, seq=8, seed=4)
    assert r["bitwise_equal"]
    assert r["saved_bytes_measured"] == r["saved_bytes_predicted"]
    assert r["offloaded_bytes_measured"] == r["offloaded_bytes_predicted"] > 0
    assert r["recompute_count_measured"] == 2


def test_prediction_is_a_formula_not_a_measurement():
    # keep-all: blocks save 16NC + 4N + NH floats each; outside the blocks a fixed list
    cfg = preset("micro")
    c = gpt_chain(cfg, 2, 16)
    n_tok = 32
    assert c.saved_bytes(1) == 4 * (16 * n_tok * 32 + 4 * n_tok + n_tok * 2)
    assert outside_saved_bytes(cfg, 2, 16) == 25476
    r = run_plan("KK", "micro", 2, 16)
    assert r["saved_bytes_predicted"] == 2 * c.saved_bytes(1) + 25476 == r["saved_bytes_measured"]


def test_checkpointing_saves_less_and_bad_input():
    keep, ckpt = run_plan("KK", "micro"), run_plan("CR", "micro")
    assert ckpt["saved_bytes_measured"] < keep["saved_bytes_measured"]
    with pytest.raises(ValueError, match="starts with a checkpoint C"):
        run_plan("RK", "micro")
    with pytest.raises(ValueError, match="at most n_positions"):
        run_plan("KK", "micro", seq=10_000)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="cuda"):
            run_plan("KK", "micro", device="cuda")
