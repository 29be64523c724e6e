"""The optimal checkpoint plan, fast: the DP of :mod:`.optimal` with each Pareto front held in
numpy arrays, so that a transition moves a whole front prefix at once.

Same recurrence, same answer (tested equal to :func:`.optimal.optimal_plan` and to the brute
force): a front at a boundary is sorted by held bytes h with recompute time falling, and the
elements that fit under a unit's peak are a prefix of it (one ``searchsorted``). What the
teaching version does per element in Python, this does per prefix; on a 1,000-layer chain with
random layer sizes, where the fronts grow to hundreds of points, that is the difference between
minutes and seconds (``benchmarks/memory_dp.py``).
"""

from __future__ import annotations

import numpy as np

from mlsys_kit import checks
from mlsys_kit.memory.chain import Chain
from mlsys_kit.memory.optimal import unit_peak


def _pareto(parts: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    h, c, pj, pi, sl = (np.concatenate([p[k] for p in parts]) for k in range(5))
    order = np.lexsort((c, h))  # by h, then by time
    h, c, pj, pi, sl = h[order], c[order], pj[order], pi[order], sl[order]
    prev_min = np.concatenate(([np.inf], np.minimum.accumulate(c)[:-1]))
    keep = c < prev_min
    return h[keep], c[keep], pj[keep], pi[keep], sl[keep]


def optimal_plan_fast(chain: Chain, budget_bytes: float) -> tuple[str, float] | None:
    """:func:`.optimal.optimal_plan`, vectorised. Returns (plan, recompute time) or None."""
    if not isinstance(chain, Chain):
        raise ValueError(f"chain must be a Chain: got {type(chain).__name__}")
    checks.positive_number("budget_bytes", budget_bytes)
    cap = budget_bytes - chain.static_bytes
    n, o, lay = chain.n, chain.out, chain.layers
    empty = (np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
    fronts: list[tuple[np.ndarray, ...]] = [empty] * (n + 1)
    fronts[0] = (np.zeros(1, np.int64), np.zeros(1), np.full(1, -1), np.full(1, -1), np.zeros(1, np.int64))
    incoming: list[list[tuple[np.ndarray, ...]]] = [[] for _ in range(n + 1)]
    for j in range(n):
        H, C = fronts[j][0], fronts[j][1]
        if len(H):
            m = int(np.searchsorted(H, cap - unit_peak(chain, j + 1, j + 1, "K"), side="right"))
            if m:
                incoming[j + 1].append((H[:m] + o(j) + lay[j].extra_bytes, C[:m], np.full(m, j),
                                        np.arange(m), np.zeros(m, np.int64)))
            l, mono, prefix, rec_best, rec_time = j + 1, 0, 0, 0, 0.0
            for r in range(l, n + 1):
                x = lay[r - 1]
                fwd = o(l - 1) + (o(r - 1) if r > l else 0) + o(r) + x.workspace_bytes
                bwd = o(l - 1) + o(r) + prefix + x.extra_bytes + o(r - 1) + x.workspace_bytes
                mono = max(mono, fwd, bwd)
                if H[0] + mono > cap:
                    break
                rec_best = max(rec_best, prefix + x.extra_bytes + o(r) + x.workspace_bytes)
                prefix += x.extra_bytes + o(r)
                rec_time += x.fwd_time
                peak = max(mono, o(l - 1) + o(r) + rec_best)
                m = int(np.searchsorted(H, cap - peak, side="right"))
                if m:
                    incoming[r].append((H[:m] + o(l - 1), C[:m] + rec_time, np.full(m, j), np.arange(m),
                                        np.full(m, r - l + 1)))
        fronts[j + 1] = _pareto(incoming[j + 1]) if incoming[j + 1] else empty
        incoming[j + 1] = []
    H, C, PJ, PI, SL = fronts[n]
    if not len(H):
        return None
    best = int(np.lexsort((H, C))[0])
    cost = float(C[best])
    letters, j, idx = [], n, best
    while j > 0:
        seg = int(fronts[j][4][idx])
        letters.append("K" if seg == 0 else "C" + "R" * (seg - 1))
        j, idx = int(fronts[j][2][idx]), int(fronts[j][3][idx])
    return "".join(reversed(letters)), cost
