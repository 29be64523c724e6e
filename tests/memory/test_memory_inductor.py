"""Inductor's partition counted exactly (``op_inductor``) and ours planned on the same, finer
graph (``decompose="inductor"``): the count of the cut's recomputation checked against a
second, independent count (torch's own FLOP formulas, by a dispatch mode, on the running step)
and its saved bytes against the storages the running forward hands the backward; ours at
inductor's bytes never keeps more nor recomputes more; our plans on that graph run bitwise."""

import functools

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry, sdpa_flop_count

from mlsys_kit.memory import op_real
from mlsys_kit.memory.checkmate import milp_plan
from mlsys_kit.memory.op_inductor import attention_listed, bisect_budget, cut_cost, inductor_cut, inductor_cutter
from mlsys_kit.memory.op_real import ours_partition, run_op_plan, torch_partition, trace_gpt
from mlsys_kit.memory.opgraph import from_lists

MICRO = ("micro", 2, 16, 2)  # preset, batch, seq, layers


class ComputeBound(TorchDispatchMode):
    """FLOPs of the matmuls and attention forwards that run, by torch's formulas
    (``torch.utils.flop_counter``), not by ours."""

    def __init__(self):
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        p = func._overloadpacket
        if p in (torch.ops.aten.mm, torch.ops.aten.addmm, torch.ops.aten.bmm):
            self.flops += flop_registry[p](*args, **kwargs, out_val=out)
        elif p is torch.ops.aten._scaled_dot_product_flash_attention_for_cpu:
            self.flops += sdpa_flop_count(args[0].shape, args[1].shape, args[2].shape)
        return out


def _step(partition):
    """One step of the micro GPT traced as inductor traces it and cut by ``partition``:
    the saved bytes the forward hands the backward, the compute-bound FLOPs of the second
    step (by :class:`ComputeBound`), the gradients."""
    preset, batch, seq, layers = MICRO
    cfg, model, _ = op_real._model(preset, "cpu", layers, 0)
    idx, tgt = op_real._inputs(cfg, batch, seq, "cpu", 0)
    step, record = op_real._step_module(model), {}
    f = op_real._aot_step(step, partition, record, "inductor")
    f(*step.parameters(), idx, tgt).backward()
    step.zero_grad(set_to_none=True)
    with ComputeBound() as mode:
        f(*step.parameters(), idx, tgt).backward()
    return record, mode.flops, [p.grad for p in step.parameters()]


@functools.lru_cache(maxsize=None)
def keep_all_step():
    return _step(ours_partition(lambda g: g.keep_all()))


@pytest.mark.parametrize("budget", [0.5, 0.1])
def test_inductor_recomputation_counted_from_its_partition(budget):
    preset, batch, seq, layers = MICRO
    cut = inductor_cut(budget, preset, batch, seq, layers)
    g = cut["graph"]
    # the backward graph runs exactly Checkmate's closure of the saved set
    assert cut["recompute_flops"] == cut["closure_recompute_flops"] > 0
    # the same cut run: the storages its forward hands the backward are the counted bytes
    record, flops, grads = _step(torch_partition(budget))
    assert record["saved_bytes_measured"] == cut["saved_bytes"]
    # torch's FLOP formulas on the running step: the extra matmul and attention work over the
    # keep-all step is the counted matmul recomputation (ours adds addmm's bias, m*n, to 2mnk)
    _, keep_flops, keep_grads = keep_all_step()
    bias = sum(g[n].out_bytes // 4 for n in cut["recomputed"] if g[n].target == "addmm")
    assert flops - keep_flops == cut["recompute_matmul_flops"] - bias > 0
    assert all(torch.equal(a, b) for a, b in zip(grads, keep_grads))  # recomputing changes no bit


def test_ours_on_inductors_graph_keeps_no_more_for_no_more_recomputation():
    preset, batch, seq, layers = MICRO
    cutter = inductor_cutter(preset, batch, seq, layers)
    for budget in (1.0, 0.5, 0.2, 0.0):
        cut = cutter(budget)
        if budget == 0.5:  # one trace cut at many budgets = a fresh trace per budget
            fresh = inductor_cut(budget, preset, batch, seq, layers)
            assert {k: v for k, v in fresh.items() if k != "graph"} == {k: v for k, v in cut.items() if k != "graph"}
        ours = milp_plan(cut["graph"], cut["saved_bytes"])
        assert ours["optimal"] and ours["saved_bytes"] <= cut["saved_bytes"]
        assert ours["recompute_flops"] <= cut["recompute_flops"]


def test_shipped_partitioner_recomputes_cpu_attention_first():
    """Why torch recomputes more than ours on CPU: its lists miss the CPU attention kernel."""
    cutter = inductor_cutter("tiny", 8, 128, 2)
    g = cutter(1.0)["graph"]

    def attention(d):
        return sum(g[n].flops for n in d["recomputed"] if "dot_product" in g[n].target)

    shipped = cutter(0.6)
    with attention_listed():
        listed = cutter(0.6)
    ours = milp_plan(g, shipped["saved_bytes"])
    assert attention(shipped) > 0 and attention(listed) == 0 == attention(ours)
    assert ours["recompute_flops"] < shipped["recompute_flops"] and listed["recompute_flops"] < shipped["recompute_flops"]
    assert cutter(0.6)["recomputed"] == shipped["recomputed"]  # the what-if is undone on leaving


def test_inductors_graph_is_finer():
    preset, batch, seq, layers = MICRO
    fine, coarse = trace_gpt(preset, batch, seq, n_layer=layers, decompose="inductor"), trace_gpt(preset, batch, seq,
                                                                                                n_layer=layers)
    targets = {o.target for o in fine.ops}
    assert "var_mean" in targets and "native_layer_norm" not in targets and "gelu" not in targets
    assert len(fine.saveable) > len(coarse.saveable) and fine.segments() == coarse.segments()
    fm, cm = fine.to_dict(), coarse.to_dict()
    assert fm["forward_matmul_flops"] == cm["forward_matmul_flops"]  # the same matmuls, finer pointwise


@pytest.mark.parametrize("policy", ["optimal", "sqrt", "min-cut"])
def test_op_plans_on_inductors_graph_run_with_the_predicted_bytes(policy):
    preset, batch, seq, _ = MICRO
    r = run_op_plan(policy, preset, batch, seq, decompose="inductor")
    assert r["reference"] == "inductor-decomposed keep-all" and r["bitwise_equal"] and r["max_abs_grad_diff"] == 0
    assert r["saved_bytes_measured"] == r["saved_bytes_predicted"]
    assert r["recompute_flops_measured"] == r["recompute_flops_predicted"]
    assert r["eager_allclose"] and r["eager_max_abs_grad_diff"] < 1e-5  # the decompositions move low bits only


@st.composite
def saved_sets(draw):
    n = draw(st.integers(2, 8))
    names = [f"v{i}" for i in range(n)]
    inputs = [draw(st.lists(st.sampled_from(["x"] + names[:i]), min_size=1, max_size=3, unique=True)) for i in range(n)]
    g = from_lists(names, inputs, draw(st.lists(st.integers(1, 50), min_size=n, max_size=n)),
                   draw(st.lists(st.integers(0, 100), min_size=n, max_size=n)),
                   draw(st.lists(st.booleans(), min_size=n, max_size=n)), sources=["x"])
    return g, draw(st.sets(st.sampled_from(names)))


@settings(max_examples=60, deadline=None)
@given(saved_sets())
def test_read_drops_only_what_nothing_reads(case):
    g, saved = case
    kept = g.read(saved)
    full, pruned = g.cost(saved), g.cost(kept)
    assert kept <= saved and pruned["recomputed"] == full["recomputed"]
    for n in saved - kept:  # a dropped tensor: not needed, and no recomputed node reads it
        assert not g[n].needed and all(n not in g[r].inputs for r in full["recomputed"])


def test_bisect_budget_finds_the_largest_budget_within_the_target():
    def cut(b):  # a staircase: bytes grow with the budget
        return {"saved_bytes": 10 * int(8 * b), "budget": b}

    d = bisect_budget(35, cut, steps=10)
    assert d["saved_bytes"] == 30 and cut(d["budget"] + 2 ** -10)["saved_bytes"] > 35
    assert bisect_budget(1000, cut)["budget"] == 1.0


def test_bad_input_is_rejected():
    g = trace_gpt("micro", 2, 16, n_layer=1)
    with pytest.raises(ValueError, match="nodes of the graph"):
        cut_cost(g, ["nope"], [])
    with pytest.raises(ValueError, match="OpGraph"):
        cut_cost("graph", [], [])
    with pytest.raises(ValueError, match="decompose"):
        trace_gpt("micro", 2, 16, decompose="xla")
    with pytest.raises(ValueError, match="decompose"):
        run_op_plan("optimal", "micro", 2, 16, decompose="xla")
    with pytest.raises(ValueError, match="target_bytes"):
        bisect_budget(-1, lambda b: {"saved_bytes": 0})
    with pytest.raises(ValueError, match="activation_memory_budget"):
        inductor_cut(1.5, "micro", 2, 16, 1)
