"""Simulator speed: wall seconds to simulate 100k requests per scheduler (goal: under 10 s), and
simulated requests per second of wall time. Default workload: lognormal prompts (median 128) and
outputs (median 64), Poisson arrivals at 10 requests/s, 2048 KV blocks of 16 tokens, 64 seats.
Prints one JSON object.

    .venv/bin/python benchmarks/serving_simulator.py [--requests 100000] [--rate 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> dict:
    from mlsys_kit.serving.config import SIMULATED
    from mlsys_kit.serving.metrics import summarize
    from mlsys_kit.serving.registry import SCHEDULERS
    from mlsys_kit.serving.simulator import simulate
    from mlsys_kit.serving.workload import make_workload

    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--rate", type=float, default=10.0)
    args = ap.parse_args()
    reqs = make_workload(args.requests, args.rate, seed=0)
    out = {"requests": args.requests, "rate": args.rate, "schedulers": {}}
    for name in SCHEDULERS:
        t0, c0 = time.perf_counter(), time.process_time()
        res = simulate(reqs, name, SIMULATED, check=False)  # 2048 blocks of 16, 64 seats, default budgets
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        s = summarize(res)
        out["schedulers"][name] = {"wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2), "simulated_requests_per_wall_second": round(args.requests / wall),
                                   "iterations": res.iterations, "simulated_seconds": round(res.simulated_seconds, 1),
                                   "throughput_tokens_per_s": round(s["throughput_tokens_per_s"], 1),
                                   "ttft_p99": round(s["ttft_p99"], 3), "tpot_p99": round(s["tpot_p99"], 4)}
    out["load_average_1min"] = round(__import__("os").getloadavg()[0], 2)
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
