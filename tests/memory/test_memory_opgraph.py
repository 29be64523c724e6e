"""Operator-level plans: the graph of a real GPT step, Checkmate's integer program against the
brute force, the LP rounding and the min-cut baseline, the block plans as the coarse version,
and the plans run by torch (saved bytes measured, gradients bitwise equal)."""

import functools
import itertools

import pytest
from hypothesis import given, settings, strategies as st

from mlsys_kit.memory.chain import gpt_chain
from mlsys_kit.memory.checkmate import (OP_POLICIES, block_plan, brute_force, lp_rounding_plan, milp_plan,
                                        min_cut_plan, op_policy)
from mlsys_kit.memory.opgraph import block_saved_set, from_lists
from mlsys_kit.memory.op_real import run_op_plan, trace_gpt
from mlsys_kit.models.gpt import preset


@functools.lru_cache(maxsize=None)
def micro_graph():
    return trace_gpt("micro", 2, 16)


@st.composite
def dags(draw):
    n = draw(st.integers(2, 9))
    inputs, names = [], [f"v{i}" for i in range(n)]
    for i in range(n):
        pool = ["x"] + names[:i]
        inputs.append(draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True)))
    out = draw(st.lists(st.integers(1, 50), min_size=n, max_size=n))
    flops = draw(st.lists(st.integers(0, 100), min_size=n, max_size=n))
    needed = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    matmul = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    g = from_lists(names, inputs, out, flops, needed, sources=["x"], matmul=matmul)
    return g, draw(st.integers(0, sum(out)))


@settings(max_examples=60, deadline=None)
@given(dags())
def test_integer_program_equals_brute_force(case):
    g, budget = case
    exact = brute_force(g, budget)
    m = milp_plan(g, budget)
    assert m["optimal"] and m["fits"]
    assert m["recompute_flops"] == exact["recompute_flops"]
    assert m["saved_bytes"] == exact["saved_bytes"]  # ties broken towards fewer bytes, both
    assert set(m["saved"]) == g.read(m["saved"])  # nothing saved that the backward does not read
    r = lp_rounding_plan(g, budget)  # a feasible plan, never better than the optimum
    assert r["fits"] and r["recompute_flops"] >= exact["recompute_flops"]


@settings(max_examples=40, deadline=None)
@given(dags())
def test_min_cut_is_the_fewest_bytes_without_recomputing_a_matmul(case):
    g, _ = case
    cut = min_cut_plan(g)
    assert cut["recompute_matmul_flops"] == 0
    sv = g.saveable  # second implementation: every saved set whose closure recomputes no matmul
    fewest = min(g.cost(c)["saved_bytes"] for k in range(len(sv) + 1) for c in itertools.combinations(sv, k)
                 if g.cost(c)["recompute_matmul_flops"] == 0 and not any(g[n].matmul for n in g.recomputed(c)))
    assert cut["saved_bytes"] == fewest


def test_traced_graph_is_the_step():
    g = micro_graph()
    cfg = preset("micro")
    # keep-all at the operator level saves, per block, exactly what the chain model counts
    chain = gpt_chain(cfg, 2, 16)
    kk, cc = (g.cost(block_saved_set(g, p))["saved_bytes"] for p in ("KK", "CC"))
    assert kk - cc == 2 * chain.layers[0].extra_bytes  # e_i: what a block saves besides its input
    assert g.cost(g.keep_all())["recompute_flops"] == 0
    mm = [o for o in g.ops if o.matmul and o.target == "addmm"]
    assert len(mm) == 4 * cfg.n_layer
    assert {o.segment for o in g.ops if o.kind != "input"} == {"embed", "h.0", "h.1", "head"}
    fake = trace_gpt("micro", 2, 16, device="cpu")
    assert [(o.name, o.out_bytes, o.flops) for o in fake.ops] == [(o.name, o.out_bytes, o.flops) for o in g.ops]


def test_gpt2_small_traces_on_meta():
    g = trace_gpt("gpt2", 1, 64, n_layer=2)
    assert g.to_dict()["forward_matmul_flops"] > 0 and len(g.segments()) == 4


@pytest.mark.parametrize("frac", [0.15, 0.3, 0.5, 0.8])
def test_op_level_optimum_never_worse_than_block_plans(frac):
    g = micro_graph()
    budget = frac * g.cost(g.keep_all())["saved_bytes"]
    coarse = block_plan(g, budget)
    fine = milp_plan(g, max(budget, coarse["saved_bytes"]))
    assert fine["recompute_flops"] <= coarse["recompute_flops"]
    assert fine["saved_bytes"] <= max(budget, coarse["saved_bytes"])


def test_min_cut_recomputes_no_matmul_and_milp_matches_it():
    g = micro_graph()
    cut = min_cut_plan(g)
    assert cut["recompute_matmul_flops"] == 0
    ours = milp_plan(g, cut["saved_bytes"])
    assert ours["saved_bytes"] <= cut["saved_bytes"] and ours["recompute_flops"] <= cut["recompute_flops"]


@pytest.mark.parametrize("policy", OP_POLICIES)
def test_op_plans_run_bitwise_with_the_predicted_bytes(policy):
    r = run_op_plan(policy, "micro", 2, 16)
    assert r["bitwise_equal"] and r["max_abs_grad_diff"] == 0
    assert r["saved_bytes_measured"] == r["saved_bytes_predicted"]
    assert r["recompute_flops_measured"] == r["recompute_flops_predicted"]


def test_bad_input_is_rejected():
    g = micro_graph()
    with pytest.raises(ValueError, match="only 'op' nodes"):
        g.cost(["primals_1"])
    with pytest.raises(ValueError, match="budget_bytes"):
        milp_plan(g, -1)
    with pytest.raises(ValueError, match="policy"):
        op_policy("nope", g)
    with pytest.raises(ValueError, match="K/C/R"):
        block_saved_set(g, "KX")
    with pytest.raises(ValueError, match="topological"):
        from_lists(["a"], [["b"]], [1], [1], [True])
    with pytest.raises(ValueError, match="brute force"):
        brute_force(g, 1e9)
    with pytest.raises(ValueError, match="policy"):
        run_op_plan("magic", "micro", 2, 16)
    with pytest.raises(ValueError, match="seq must be at most"):
        trace_gpt("micro", 1, 100_000)
