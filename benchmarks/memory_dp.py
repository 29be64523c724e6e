"""Speed of the training-memory model: the exact DP for the optimal checkpoint plan on chains
of 100 to 1,000 layers (uniform, and random layer sizes), the fast (numpy) DP beside the
teaching one, the simulator on its plan, and the brute force on small chains. Prints one JSON object
(seconds; each the median of ``--repeat`` runs).

    python benchmarks/memory_dp.py [--repeat 3] [--max-layers 1000]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlsys_kit.memory.chain import Chain, Layer, uniform_chain  # noqa: E402
from mlsys_kit.memory.lifetimes import simulate  # noqa: E402
from mlsys_kit.memory.optimal import brute_force_plan, optimal_plan  # noqa: E402
from mlsys_kit.memory.optimal_fast import optimal_plan_fast  # noqa: E402
from mlsys_kit.memory.policies import sqrt_plan  # noqa: E402


CPU: dict[str, float] = {}


def timed(fn, repeat, key=None):
    """Median wall seconds of ``repeat`` runs (the CPU seconds go to CPU[key]: a busy shared
    machine inflates wall time much more than CPU time)."""
    times, cpus, out = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    if key:
        CPU[key] = round(statistics.median(cpus), 4)
    return statistics.median(times), out


def random_chain(n, seed=0):
    rng = random.Random(seed)
    return Chain(tuple(Layer(f"l{i}", rng.randint(8, 12) * 1000, rng.randint(30, 60) * 1000, rng.uniform(1, 2),
                             rng.uniform(2, 4)) for i in range(n)), 10_000)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--max-layers", type=int, default=1000)
    a = ap.parse_args()
    out = {"dp": [], "brute_force": []}
    for n in [x for x in (100, 300, 1000) if x <= a.max_layers]:
        for kind, chain in (("uniform", uniform_chain(n, 10, 40)), ("random", random_chain(n))):
            sq = simulate(chain, sqrt_plan(n), keep_timeline=False)
            budget = int(sq.peak_bytes * 1.5)  # between sqrt(n)'s peak and keep-all's
            fast_s, found = timed(lambda: optimal_plan_fast(chain, budget), a.repeat, "fast")
            row = {}
            if kind == "uniform" or n <= 300:  # the teaching DP grows as n^3 on random chains
                dp_s, slow = timed(lambda: optimal_plan(chain, budget), 1, "teaching")
                row = {"teaching_dp_s": round(dp_s, 4), "teaching_dp_cpu_s": CPU["teaching"],
                       "same_cost": abs(slow[1] - found[1]) < 1e-9}
            sim_s, res = timed(lambda: simulate(chain, found[0], keep_timeline=False), a.repeat)
            out["dp"].append({"layers": n, "chain": kind, "budget_bytes": budget, "fast_dp_s": round(fast_s, 4),
                              "fast_dp_cpu_s": CPU["fast"], **row,
                              "simulate_s": round(sim_s, 4), "peak_bytes": res.peak_bytes,
                              "recompute_fraction": round(found[1] / sum(x.fwd_time for x in chain.layers), 4),
                              "sqrt_recompute_fraction": 1.0})
    for n in (6, 8):
        chain = random_chain(n, 1)
        budget = int(simulate(chain, "K" * n).peak_bytes * 0.7)
        bf_s, bf = timed(lambda: brute_force_plan(chain, budget), 1)
        dp_s, dp = timed(lambda: optimal_plan(chain, budget), 1)
        out["brute_force"].append({"layers": n, "brute_force_s": round(bf_s, 4), "dp_s": round(dp_s, 6),
                                   "same_cost": abs(bf[1] - dp[1]) < 1e-9})
    print(json.dumps(out, indent=2))
