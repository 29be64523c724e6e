"""Operator-level recomputation plans: Checkmate's integer program, its LP rounding, a min-cut
baseline in the style of torch's partitioner, and the brute force they are checked against.

Checkmate (Jain et al., MLSys'20) section 4 decides, for every stage t of the schedule and
every node i of the graph, R[t,i] (compute i in stage t) and S[t,i] (i is held in memory going
into stage t). Here the schedule has the two stages torch runs: the forward, which computes
everything once, then the backward, before which the plan fixes what the forward kept. So one
row of each is left, for the backward stage: ``s_i`` (saved by the forward) and ``r_i``
(recomputed in the backward), and the program of section 4.1 reads

    minimise    sum_i C_i r_i                         (recompute cost, FLOPs)
    subject to  s_i + r_i >= 1        for every i the backward reads      (it must be there)
                r_j <= s_i + r_i      for every edge i -> j, i not an input (4.1: dependencies)
                sum_i M_i s_i <= B                    (the memory budget on the saved bytes)
                s_i in {0, 1},  0 <= r_i <= 1.

Given integral s, the least r is the recompute closure (:meth:`.opgraph.OpGraph.recomputed`),
so r may stay continuous: HiGHS (``scipy.optimize.milp``) branches on s only. Section 5's
*two-phase rounding* solves the LP relaxation, rounds s (here: every threshold of the LP's s,
keeping the best plan that fits) and takes the least r for it: a feasible plan for graphs
where the integer program is slow. :func:`min_cut_plan` is the baseline of torch's
``min_cut_rematerialization_partition``: never recompute a matmul or attention, and save the
fewest bytes that let the backward rebuild everything else (a minimum s-t cut, ``networkx``).
:func:`brute_force` tries every saved set (small graphs only).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from mlsys_kit import checks
from mlsys_kit.memory.opgraph import OpGraph, block_saved_set
from mlsys_kit.memory.policies import sqrt_plan


def _check(graph: OpGraph, budget_bytes: float) -> float:
    if not isinstance(graph, OpGraph):
        raise ValueError(f"graph must be an OpGraph: got {type(graph).__name__}")
    return checks.nonneg_number("budget_bytes", budget_bytes)


def _program(graph: OpGraph, budget: float):
    """The matrices of the program above: x = [s (saveable nodes), r (non-input nodes)]."""
    from scipy.optimize import Bounds, LinearConstraint
    from scipy.sparse import coo_matrix

    sv = graph.saveable
    nodes = [o.name for o in graph.ops if o.kind != "input"]
    si = {n: k for k, n in enumerate(sv)}
    ri = {n: len(sv) + k for k, n in enumerate(nodes)}
    rows, cols, vals, lo, hi = [], [], [], [], []

    def row(terms: list[tuple[int, float]], low: float, high: float) -> None:
        r = len(lo)
        for c, v in terms:
            rows.append(r), cols.append(c), vals.append(v)
        lo.append(low), hi.append(high)

    for n in graph.needed:  # s_n + r_n >= 1
        row([(ri[n], 1.0)] + ([(si[n], 1.0)] if n in si else []), 1.0, math.inf)
    for o in graph.ops:  # r_j - r_i - s_i <= 0 for each input i of j
        if o.kind == "input":
            continue
        for i in o.inputs:
            if graph[i].kind == "input":
                continue
            row([(ri[o.name], 1.0), (ri[i], -1.0)] + ([(si[i], -1.0)] if i in si else []), -math.inf, 0.0)
    row([(si[n], float(graph[n].out_bytes)) for n in sv], -math.inf, float(budget))
    nvar = len(sv) + len(nodes)
    A = coo_matrix((vals, (rows, cols)), shape=(len(lo), nvar)).tocsr()
    total = sum(graph[n].out_bytes for n in sv) + 1.0
    c = np.zeros(nvar)
    for n in nodes:
        c[ri[n]] = graph[n].flops
    for n in sv:  # tie-break towards fewer bytes: the whole term is below half a FLOP
        c[si[n]] = 0.5 * graph[n].out_bytes / total
    integrality = np.zeros(nvar)
    integrality[: len(sv)] = 1
    return c, LinearConstraint(A, lo, hi), Bounds(np.zeros(nvar), np.ones(nvar)), integrality, sv


def _result(graph: OpGraph, saved: frozenset[str], method: str, budget: float, **extra: Any) -> dict[str, Any]:
    # what nothing reads is dropped (the cut drops it too): HiGHS may leave a tensor of a few
    # bytes saved for nothing, its tie-break cost being under the solver's tolerances
    d = graph.cost(graph.read(saved))
    d.update(method=method, budget_bytes=budget, fits=d["saved_bytes"] <= budget, **extra)
    return d


def milp_plan(graph: OpGraph, budget_bytes: float, time_limit: float = 60.0, gap: float = 0.0) -> dict[str, Any]:
    """Checkmate's integer program (section 4) on ``graph`` solved by HiGHS; ``optimal`` says
    whether HiGHS proved it within ``time_limit`` seconds (else its best plan found)."""
    from scipy.optimize import milp

    budget = _check(graph, budget_bytes)
    checks.positive_number("time_limit", time_limit)
    checks.nonneg_number("gap", gap)
    c, cons, bounds, integ, sv = _program(graph, budget)
    res = milp(c, constraints=cons, bounds=bounds, integrality=integ,
               options={"time_limit": float(time_limit), "mip_rel_gap": float(gap), "presolve": True})
    if res.x is None:
        raise ValueError(f"no plan found within {time_limit} s ({res.message})")
    saved = frozenset(n for k, n in enumerate(sv) if res.x[k] > 0.5)
    return _result(graph, saved, "milp", budget, optimal=bool(res.status == 0), solver=str(res.message))


def lp_rounding_plan(graph: OpGraph, budget_bytes: float) -> dict[str, Any]:
    """Section 5: the LP relaxation, then two-phase rounding (round s at every threshold the LP
    solution offers, take the least recomputation for it, keep the best plan within budget)."""
    from scipy.optimize import linprog

    budget = _check(graph, budget_bytes)
    c, cons, bounds, _, sv = _program(graph, budget)
    res = linprog(c, bounds=list(zip(bounds.lb, bounds.ub)), method="highs", **_as_ub(cons))
    if res.x is None:
        raise ValueError(f"the LP relaxation failed: {res.message}")
    s = res.x[: len(sv)]
    best = None
    for th in sorted(set(np.round(s, 9)) | {1.0 + 1e-9}):
        saved = frozenset(n for k, n in enumerate(sv) if s[k] >= th - 1e-12)
        d = graph.cost(saved)
        if d["saved_bytes"] <= budget and (best is None or (d["recompute_flops"], d["saved_bytes"])
                                           < (best["recompute_flops"], best["saved_bytes"])):
            best = d
    return _result(graph, frozenset(best["saved"]), "lp-rounding", budget, lp_bound=float(res.fun))


def _as_ub(cons) -> dict[str, Any]:
    """A two-sided LinearConstraint as linprog's A_ub x <= b_ub."""
    from scipy.sparse import vstack

    A, lo, hi = cons.A, np.asarray(cons.lb), np.asarray(cons.ub)
    up, dn = np.isfinite(hi), np.isfinite(lo)
    return {"A_ub": vstack([A[up], -A[dn]]).tocsr(), "b_ub": np.concatenate([hi[up], -lo[dn]])}


def brute_force(graph: OpGraph, budget_bytes: float, max_saveable: int = 16) -> dict[str, Any]:
    """Every saved set within budget, its least recomputation; the cheapest (then fewest bytes)."""
    budget = _check(graph, budget_bytes)
    sv = graph.saveable
    if len(sv) > checks.positive_int("max_saveable", max_saveable):
        raise ValueError(f"brute force tries 2^n saved sets: n={len(sv)} saveable nodes is over {max_saveable}")
    best = None
    for k in range(len(sv) + 1):
        for combo in itertools.combinations(sv, k):
            d = graph.cost(combo)
            if d["saved_bytes"] <= budget and (best is None or (d["recompute_flops"], d["saved_bytes"])
                                               < (best["recompute_flops"], best["saved_bytes"])):
                best = d
    return _result(graph, frozenset(best["saved"]), "brute-force", budget)


def min_cut_plan(graph: OpGraph) -> dict[str, Any]:
    """The fewest saved bytes with no matmul or attention recomputed (torch's partitioner's rule):
    node i splits into i_in -> i_out of capacity M_i (infinite for views and multi-output ops,
    which are never saved); inputs, there in both passes, are left out; a matmul is tied to the source (never recomputed);
    what the backward reads is tied to the sink; edges of the graph are infinite. The saved set
    is the nodes whose i_in -> i_out edge the minimum cut crosses."""
    import networkx as nx

    if not isinstance(graph, OpGraph):
        raise ValueError(f"graph must be an OpGraph: got {type(graph).__name__}")
    G, free = nx.DiGraph(), set()
    G.add_nodes_from(["SOURCE", "SINK"])
    for o in graph.ops:  # inputs, and views of inputs only (a transposed weight): always there
        if o.kind == "input" or (o.kind == "view" and all(i in free for i in o.inputs)):
            free.add(o.name)
    for o in graph.ops:
        if o.name in free:  # there in the backward too: not a node of the cut
            continue
        if o.saveable:
            G.add_edge(o.name + ":in", o.name + ":out", capacity=float(o.out_bytes))
        else:
            G.add_edge(o.name + ":in", o.name + ":out")
        if o.matmul:
            G.add_edge("SOURCE", o.name + ":in")
        if o.needed:
            G.add_edge(o.name + ":out", "SINK")
        for i in o.inputs:
            if i not in free:
                G.add_edge(i + ":out", o.name + ":in")
    _, (reach, _) = nx.minimum_cut(G, "SOURCE", "SINK")
    saved = frozenset(o.name for o in graph.ops if o.saveable and o.name + ":in" in reach
                      and o.name + ":out" not in reach)
    return _result(graph, saved, "min-cut", math.inf)


def op_plan(graph: OpGraph, budget_bytes: float, method: str = "auto", time_limit: float = 60.0) -> dict[str, Any]:
    """The operator-level plan: ``milp`` (exact), ``lp-rounding``, or ``auto`` (the MILP, with
    the LP rounding's plan when HiGHS runs out of time and the rounding is better)."""
    checks.one_of("method", method, ("auto", "milp", "lp-rounding"))
    if method == "lp-rounding":
        return lp_rounding_plan(graph, budget_bytes)
    d = milp_plan(graph, budget_bytes, time_limit)
    if method == "auto" and not d["optimal"]:
        r = lp_rounding_plan(graph, budget_bytes)
        if (r["recompute_flops"], r["saved_bytes"]) < (d["recompute_flops"], d["saved_bytes"]):
            return r
    return d


OP_POLICIES = ("all", "sqrt", "block-optimal", "min-cut", "optimal", "lp-rounding")


def op_policy(policy: str, graph: OpGraph, budget_bytes: float | None = None) -> dict[str, Any]:
    """An operator-level plan by name: ``all`` (save what the backward reads), ``sqrt`` (Chen et
    al.'s block plan as a saved set), ``block-optimal`` (the block plan of least recomputation
    within the budget: the coarse version, :func:`block_plan`), ``min-cut`` (torch's rule),
    ``optimal`` (the integer program) and ``lp-rounding``. The budget (saved bytes) defaults to
    60 % of ``all``'s; the returned dict carries the graph (key ``graph``)."""
    checks.one_of("policy", policy, OP_POLICIES)
    keep = graph.cost(graph.keep_all())["saved_bytes"]
    budget = 0.6 * keep if budget_bytes is None else checks.positive_number("budget_bytes", budget_bytes)
    n = sum(s.startswith("h.") for s in graph.segments())
    if policy == "all":
        d = _result(graph, graph.keep_all(), "all", budget)
    elif policy == "sqrt":
        d = _result(graph, block_saved_set(graph, sqrt_plan(n)), "sqrt", budget, plan=sqrt_plan(n))
    elif policy == "block-optimal":
        d = block_plan(graph, budget)
    elif policy == "min-cut":
        d = min_cut_plan(graph)
        d.update(budget_bytes=budget, fits=d["saved_bytes"] <= budget)
    else:
        d = op_plan(graph, budget, "milp" if policy == "optimal" else "lp-rounding")
    d["graph"] = graph
    return d


def block_plan(graph: OpGraph, budget_bytes: float) -> dict[str, Any]:
    """The coarse problem on the same graph: the best plan whose units are whole blocks (K, C or
    R per block, :func:`.opgraph.block_saved_set`), by exhaustive search over 3^n plans for up
    to 8 blocks, beyond that over the block DP's plans (:mod:`.optimal`) at every budget."""
    budget = _check(graph, budget_bytes)
    n = sum(s.startswith("h.") for s in graph.segments())
    if n > 8:
        raise ValueError(f"block_plan searches 3^n block plans: n={n} blocks is over 8")
    best = None
    for p in itertools.product("KCR", repeat=n):
        p = "".join(p)
        if p[0] == "R" or any(b == "R" and a == "K" for a, b in zip(p, p[1:])):
            continue
        d = graph.cost(block_saved_set(graph, p))
        if d["saved_bytes"] <= budget and (best is None or (d["recompute_flops"], d["saved_bytes"])
                                           < (best["recompute_flops"], best["saved_bytes"])):
            best, plan = d, p
    if best is None:  # nothing fits: the smallest block plan (every block R after one C)
        plan = "C" + "R" * (n - 1)
        best = graph.cost(block_saved_set(graph, plan))
    return _result(graph, frozenset(best["saved"]), "block", budget, plan=plan)


def saved_breakdown(graph: OpGraph, saved) -> dict[str, int]:
    """Saved bytes by what produced them: matmul outputs, attention (output and log-sum-exp),
    LayerNorm (output, mean, rstd), everything else (pointwise: GELU, residual adds, ...)."""
    out = {"matmul": 0, "attention": 0, "layernorm": 0, "pointwise": 0}
    for n in graph.check_saved(saved):
        o = graph[n]
        src = graph[o.inputs[0]].target if o.target == "getitem" and o.inputs else o.target
        key = ("matmul" if o.matmul else "attention" if "dot_product" in src else
               "layernorm" if "layer_norm" in src else "pointwise")
        out[key] += o.out_bytes
    return out


def tradeoff(graph: OpGraph, budgets) -> list[dict[str, Any]]:
    """The two levels on one graph at each saved-bytes budget: the best block plan
    (:func:`block_plan`) and the integer program's optimum at the bytes the block plan saves
    (equal budget, so the FLOPs compare), with the saved bytes broken down by producer."""
    rows = []
    for b in budgets:
        blk = block_plan(graph, b)
        op = milp_plan(graph, max(float(b), blk["saved_bytes"]))
        rows.append({"budget_bytes": float(b),
                     "block": {k: blk[k] for k in ("plan", "saved_bytes", "recompute_flops", "recompute_matmul_flops")}
                     | {"breakdown": saved_breakdown(graph, blk["saved"])},
                     "op": {k: op[k] for k in ("saved_bytes", "recompute_flops", "recompute_matmul_flops", "optimal")}
                     | {"breakdown": saved_breakdown(graph, op["saved"])}})
    return rows
