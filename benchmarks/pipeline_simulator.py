"""Time to generate, validate and simulate each schedule at p=64 ranks, m=1024 microbatches
(v=2 for interleaved). Prints one JSON object (seconds, best of 3, and the metrics found)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlsys_kit.pipeline.generators import SCHEDULES, make_schedule
from mlsys_kit.pipeline.simulate import simulate
from mlsys_kit.pipeline.validate import validate  # noqa: E402

P, M, V = 64, 1024, 2


def best_of(fn, n: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return round(best, 3), out


def main() -> dict:
    out: dict = {"p": P, "m": M, "v": V}
    for name in SCHEDULES:
        t_gen, sched = best_of(lambda: make_schedule(name, P, M, V))
        t_val, _ = best_of(lambda: validate(sched))
        t_sim, res = best_of(lambda: simulate(sched, check=False))
        out[name] = {"actions": sum(len(r) for r in sched.ranks), "generate_s": t_gen, "validate_s": t_val,
                     "simulate_s": t_sim, "bubble_fraction": round(res.bubble_fraction, 5),
                     "peak_activations": max(res.peak_activations)}
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
