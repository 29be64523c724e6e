"""Memory policies behind one interface: each turns a chain (and a budget, a link) into a plan
for :func:`.lifetimes.simulate`, which gives peak memory, step time and the timeline.

============ ======================================================================== ==========================
policy       plan                                                                     paper
============ ======================================================================== ==========================
``all``      keep every activation (K...K)                                            the baseline
``every-k``  a recomputed segment every k layers (CR..R CR..R ...)                    Chen et al. 2016, sec. 4.1
``sqrt``     every-k with k = round(sqrt(n)): O(sqrt n) memory, one extra forward    Chen et al. 2016, sec. 4.1
``optimal``  least recompute time within the budget (exact DP, :mod:`.optimal_fast`) Checkmate (MLSys'20), sec. 4
``offload``  swap every layer's activations to the host (vDNN_all), last one kept     vDNN (MICRO'16), sec. 3
``hybrid``   per layer, swap or recompute, whichever costs less time, greedily by     Capuchin (ASPLOS'20), sec. 4
             bytes freed per second added, until the peak fits the budget
============ ======================================================================== ==========================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mlsys_kit import checks
from mlsys_kit.memory.chain import Chain
from mlsys_kit.memory.lifetimes import StepResult, simulate
from mlsys_kit.memory.optimal_fast import optimal_plan_fast

POLICIES = ("all", "every-k", "sqrt", "optimal", "offload", "hybrid")


@dataclass
class PolicyResult:
    """A policy's plan and what it costs; ``fits`` is peak <= budget (True with no budget)."""

    policy: str
    budget_bytes: float | None
    link_bytes_per_s: float | None
    fits: bool
    step: StepResult

    def to_dict(self, timeline: bool = False) -> dict[str, Any]:
        d = self.step.to_dict(timeline)
        d.update(policy=self.policy, budget_bytes=self.budget_bytes, link_bytes_per_s=self.link_bytes_per_s,
                 fits=self.fits, slowdown=self.step.step_time / self.step.compute_time)
        return d


def every_k_plan(n: int, k: int) -> str:
    """Segments of k layers, each recomputed from its checkpointed input."""
    checks.positive_int("n (layers)", n)
    checks.positive_int("k (layers per segment)", k)
    return "".join("C" if i % k == 0 else "R" for i in range(n))


def sqrt_plan(n: int) -> str:
    """Chen et al.'s rule: segments of about sqrt(n) layers."""
    return every_k_plan(n, max(1, round(math.sqrt(checks.positive_int("n (layers)", n)))))


def offload_plan(n: int) -> str:
    """vDNN_all: every layer's saved activations go to the host, except the last layer's
    (its backward runs right after its forward: a round trip would only add traffic)."""
    return "S" * (checks.positive_int("n (layers)", n) - 1) + "K"


def smallest_plan(chain: Chain) -> str:
    """The every-k plan (or keep-all) of the least peak: the fallback when nothing fits."""
    cands = ["K" * chain.n] + [every_k_plan(chain.n, k) for k in range(1, chain.n + 1)]
    return min(cands, key=lambda p: (simulate(chain, p, keep_timeline=False).peak_bytes, p))


def hybrid_plan(chain: Chain, budget_bytes: float, link_bytes_per_s: float) -> str:
    """Capuchin's choice, per layer: evict its activations by swapping (free when the link has
    idle time to hide the copies) or by recomputing (costs its forward time), greedily taking the
    move that frees the most peak bytes per second of step time added, until the peak fits."""
    plan = list("K" * chain.n)
    cur = simulate(chain, "".join(plan), link_bytes_per_s, keep_timeline=False)
    while cur.peak_bytes > budget_bytes:
        best: tuple[float, float, str, StepResult] | None = None
        for i, c in enumerate(plan):
            if c != "K":
                continue
            moves = ["S", "C"] + (["R"] if i and plan[i - 1] in "CR" else [])
            for m in moves:
                p = "".join(plan[:i] + [m] + plan[i + 1:])
                r = simulate(chain, p, link_bytes_per_s, keep_timeline=False)
                saved = cur.peak_bytes - r.peak_bytes
                if saved <= 0:
                    continue
                added = r.step_time - cur.step_time
                score = math.inf if added <= 1e-15 else saved / added
                key = (score, saved)
                if best is None or key > best[:2]:
                    best = (score, saved, p, r)
        if best is None:
            break
        plan, cur = list(best[2]), best[3]
    return "".join(plan)


def plan(policy: str, chain: Chain, budget_bytes: float | None = None, link_bytes_per_s: float | None = None,
         k: int | None = None, lookahead: int = 1) -> PolicyResult:
    """Run ``policy`` (one of ``POLICIES``) on ``chain``. ``optimal`` and ``hybrid`` need a
    budget; ``offload`` and ``hybrid`` a link bandwidth; ``every-k`` a k. When nothing fits the
    budget, ``optimal`` returns the every-k plan of least peak with ``fits`` False."""
    checks.one_of("policy", policy, POLICIES)
    if not isinstance(chain, Chain):
        raise ValueError(f"chain must be a Chain: got {type(chain).__name__}")
    if budget_bytes is not None:
        checks.positive_number("budget_bytes", budget_bytes)
    if link_bytes_per_s is not None:
        checks.positive_number("link_bytes_per_s", link_bytes_per_s)
    if policy in ("optimal", "hybrid") and budget_bytes is None:
        raise ValueError(f"policy {policy!r} needs a memory budget (--budget-gb)")
    if policy in ("offload", "hybrid") and link_bytes_per_s is None:
        raise ValueError(f"policy {policy!r} needs the device-host link bandwidth (--link-gbps)")
    if policy == "every-k":
        if k is None:
            raise ValueError("policy 'every-k' needs k, the layers per recomputed segment (--k)")
        if checks.positive_int("k", k) > chain.n:
            raise ValueError(f"k must be at most the number of layers ({chain.n}): got {k}")
    if policy == "all":
        p = "K" * chain.n
    elif policy == "every-k":
        p = every_k_plan(chain.n, k)
    elif policy == "sqrt":
        p = sqrt_plan(chain.n)
    elif policy == "optimal":
        found = optimal_plan_fast(chain, budget_bytes)  # = optimal.optimal_plan, vectorised
        p = found[0] if found else smallest_plan(chain)
    elif policy == "offload":
        p = offload_plan(chain.n)
    else:
        p = hybrid_plan(chain, budget_bytes, link_bytes_per_s)
    step = simulate(chain, p, link_bytes_per_s, lookahead)
    fits = budget_bytes is None or step.peak_bytes <= budget_bytes
    return PolicyResult(policy, budget_bytes, link_bytes_per_s, fits, step)


def largest_batch(build, policy: str, budget_bytes: float, link_bytes_per_s: float | None = None,
                  k: int | None = None, max_batch: int = 1 << 16) -> tuple[int, PolicyResult | None]:
    """The largest batch b with ``plan(policy, build(b), ...)`` fitting ``budget_bytes``
    (``build(b)`` returns the chain at batch b; memory grows with b, so bisect). 0 if none."""
    checks.positive_number("budget_bytes", budget_bytes)
    checks.positive_int("max_batch", max_batch)

    def fits(b: int) -> PolicyResult | None:
        r = plan(policy, build(b), budget_bytes, link_bytes_per_s, k)
        return r if r.fits else None

    if fits(1) is None:
        return 0, None
    lo, hi = 1, 2
    while hi <= max_batch and fits(hi) is not None:
        lo, hi = hi, hi * 2
    hi = min(hi, max_batch + 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) is not None else (lo, mid)
    return lo, fits(lo)
