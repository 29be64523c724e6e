"""The optimal checkpoint plan for a chain under a memory budget: exact dynamic programming,
and the brute force it is checked against.

The question of Checkmate (Jain et al., MLSys'20), section 4, restricted to a chain as in
Chen et al. (2016) section 4 and Griewank's checkpointing: which layers keep their activations
(K), which start a recomputed segment (C) and which are recomputed inside one (R), so that the
step's peak memory stays within the budget and the recomputation costs the least time.

The DP walks the chain left to right. At the boundary after layer j, a partial plan is
summarised by two numbers: ``h``, the activation bytes it leaves held for the backward pass
(a K layer holds a_i, a segment holds its checkpoint o_{l-1}), and its recompute time. Every
op of the next unit (a K layer, or a segment l..r) peaks at ``static + h + L`` where L depends
on that unit only (derived from the lifetime rules of :mod:`.lifetimes`: :func:`unit_peak`);
later units never see this unit's tensors except through h. So the plans worth keeping at a
boundary are the Pareto front of (h, recompute time): exact, no rounding of bytes. The
brute force enumerates every valid K/C/R plan and runs :func:`.lifetimes.simulate` on each.
"""

from __future__ import annotations

import itertools
import math

from mlsys_kit import checks
from mlsys_kit.memory.chain import Chain
from mlsys_kit.memory.lifetimes import check_plan, simulate, units


def unit_peak(chain: Chain, l: int, r: int, kind: str) -> int:
    """Peak bytes, above ``static + h``, of every op of one backward unit: a kept layer
    (``kind="K"``, l == r) or a segment l..r (``kind="C"``), forward and backward together."""
    o = chain.out
    lay = chain.layers
    if kind == "K":
        x = lay[l - 1]
        return 2 * o(l - 1) + x.extra_bytes + o(l) + x.workspace_bytes  # B_i: x_{i-1} and g_{i-1}
    best, prefix = 0, 0
    for i in range(l, r + 1):
        x = lay[i - 1]
        fwd = o(l - 1) + (o(i - 1) if i > l else 0) + o(i) + x.workspace_bytes
        rec = o(l - 1) + o(r) + prefix + x.extra_bytes + o(i) + x.workspace_bytes
        bwd = o(l - 1) + o(i) + prefix + x.extra_bytes + o(i - 1) + x.workspace_bytes
        best = max(best, fwd, rec, bwd)
        prefix += x.extra_bytes + o(i)
    return best


def plan_peak(chain: Chain, plan: str) -> int:
    """The peak of a K/C/R plan from the unit formulas, without simulating: static plus the
    largest ``h + unit_peak`` over the plan's units (equals :func:`.lifetimes.simulate`)."""
    check_plan(chain, plan)
    if "S" in plan:
        raise ValueError("plan_peak covers K/C/R plans; a swap's memory depends on the link: use simulate")
    h, peak = 0, 0
    for l, r in units(plan):
        kind = plan[l - 1]
        peak = max(peak, h + unit_peak(chain, l, r, kind))
        h += chain.saved_bytes(l) if kind == "K" else chain.out(l - 1)
    return chain.static_bytes + peak


def optimal_plan(chain: Chain, budget_bytes: float) -> tuple[str, float] | None:
    """The plan of least recompute time whose peak is at most ``budget_bytes`` (None if no
    K/C/R plan fits), and that recompute time. Ties go to the plan holding less."""
    if not isinstance(chain, Chain):
        raise ValueError(f"chain must be a Chain: got {type(chain).__name__}")
    checks.positive_number("budget_bytes", budget_bytes)
    cap = budget_bytes - chain.static_bytes
    n, o, lay = chain.n, chain.out, chain.layers
    # fronts[j]: list of (h, cost, back) where back = (previous j, index in its front, letters)
    fronts: list[list[tuple[int, float, tuple[int, int, str] | None]]] = [[] for _ in range(n + 1)]
    fronts[0] = [(0, 0.0, None)]
    incoming: list[list[tuple[int, float, tuple[int, int, str]]]] = [[] for _ in range(n + 1)]
    for j in range(n):
        front = fronts[j]
        if not front:
            continue
        h_min = front[0][0]
        # a kept layer j+1
        peak = unit_peak(chain, j + 1, j + 1, "K")
        add = o(j) + lay[j].extra_bytes
        for idx, (h, cost, _) in enumerate(front):
            if h + peak <= cap:
                incoming[j + 1].append((h + add, cost, (j, idx, "K")))
        # a segment j+1..r: the forward and backward parts of its peak only grow with r
        l, mono, prefix, rec_best, rec_time = j + 1, 0, 0, 0, 0.0
        for r in range(l, n + 1):
            x = lay[r - 1]
            fwd = o(l - 1) + (o(r - 1) if r > l else 0) + o(r) + x.workspace_bytes
            bwd = o(l - 1) + o(r) + prefix + x.extra_bytes + o(r - 1) + x.workspace_bytes
            mono = max(mono, fwd, bwd)
            if h_min + mono > cap:
                break
            rec_best = max(rec_best, prefix + x.extra_bytes + o(r) + x.workspace_bytes)
            prefix += x.extra_bytes + o(r)
            rec_time += x.fwd_time
            peak = max(mono, o(l - 1) + o(r) + rec_best)
            letters = "C" + "R" * (r - l)
            for idx, (h, cost, _) in enumerate(front):
                if h + peak > cap:
                    break  # the front is sorted by h
                incoming[r].append((h + o(l - 1), cost + rec_time, (j, idx, letters)))
        # the front of j+1 is complete now (every transition into it comes from j or before)
        fronts[j + 1] = _pareto(incoming[j + 1])
        incoming[j + 1] = []
    if not fronts[n]:
        return None
    h, cost, back = min(fronts[n], key=lambda e: (e[1], e[0]))
    letters, node = [], back
    while node is not None:
        pj, pidx, s = node
        letters.append(s)
        node = fronts[pj][pidx][2]
    return "".join(reversed(letters)), cost


def _pareto(items: list[tuple[int, float, tuple[int, int, str]]]) -> list:
    """Keep the (h, cost) pairs no other pair beats on both; sorted by h, cost falling."""
    items.sort(key=lambda e: (e[0], e[1]))
    out: list = []
    best = math.inf
    for e in items:
        if e[1] < best:
            out.append(e)
            best = e[1]
    return out


def all_plans(n: int, letters: str = "KCR"):
    """Every valid plan of n layers over ``letters`` (R only after C or R)."""
    checks.positive_int("n", n)
    for p in itertools.product(letters, repeat=n):
        if p[0] == "R" or any(c == "R" and p[i - 1] not in "CR" for i, c in enumerate(p) if i):
            continue
        yield "".join(p)


def brute_force_plan(chain: Chain, budget_bytes: float, max_layers: int = 10) -> tuple[str, float] | None:
    """The same answer as :func:`optimal_plan` by simulating every K/C/R plan (3^n of them:
    small chains only)."""
    if chain.n > max_layers:
        raise ValueError(f"brute force enumerates 3^n plans: at most {max_layers} layers, got {chain.n}")
    best: tuple[float, int, str] | None = None
    for p in all_plans(chain.n):
        r = simulate(chain, p, keep_timeline=False)
        if r.peak_bytes <= budget_bytes and (best is None or (r.recompute_time, r.saved_bytes) < best[:2]):
            best = (r.recompute_time, r.saved_bytes, p)
    return None if best is None else (best[2], best[0])
