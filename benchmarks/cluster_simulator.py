"""Speed of the cluster simulator: 100,000 Philly-shaped jobs on 2,000 V100s (8 to a machine)
through the FIFO fast path, and each policy through the teaching path on a smaller trace.
Prints one JSON object (wall seconds, jobs per wall second, avg JCT).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/cluster_simulator.py [--jobs 100000 --gpus 2000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> dict:
    from mlsys_kit.cluster.core import Cluster
    from mlsys_kit.cluster.fastsim import simulate_fifo
    from mlsys_kit.cluster.metrics import summarize
    from mlsys_kit.cluster.registry import make_policy
    from mlsys_kit.cluster.simulate import simulate
    from mlsys_kit.cluster.workload import generate

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=100_000)
    p.add_argument("--gpus", type=int, default=2000)
    p.add_argument("--load", type=float, default=0.9)
    p.add_argument("--small-jobs", type=int, default=1000, help="jobs of the teaching-path runs (default 1000)")
    args = p.parse_args(argv)
    t = time.perf_counter()
    jobs = generate(args.jobs, "philly", gpus=args.gpus, load=args.load, seed=0)
    out = {"jobs": args.jobs, "gpus": args.gpus, "load": args.load, "workload_seconds": time.perf_counter() - t}
    t = time.perf_counter()
    res = simulate_fifo(jobs, Cluster.homogeneous(args.gpus))
    wall = time.perf_counter() - t
    m = summarize(res)
    out["fifo_fast_path"] = {"wall_seconds": wall, "jobs_per_wall_second": args.jobs / wall,
                             "avg_jct": m["avg_jct"], "utilization": m["utilization"], "events": res.n_calls}
    small = generate(args.small_jobs, "philly", gpus=64, load=args.load, seed=0)
    het = Cluster.from_counts({"v100": 32, "p100": 16, "k80": 16})
    small_het = generate(args.small_jobs, "philly", gpus=64, load=args.load, seed=0, gpu_types=het.gpu_types,
                         max_size=32)
    out["teaching_path"] = {}
    for name in ("fifo", "srtf", "tiresias", "gavel", "pollux"):
        jobs_, cluster = (small_het, het) if name == "gavel" else (small, Cluster.homogeneous(64))
        t = time.perf_counter()
        r = simulate(jobs_, cluster, make_policy(name))
        wall = time.perf_counter() - t
        out["teaching_path"][name] = {"jobs": args.small_jobs, "gpus": 64, "wall_seconds": wall,
                                      "scheduling_calls": r.n_calls, "avg_jct": summarize(r)["avg_jct"]}
    return out


if __name__ == "__main__":
    from mlsys_kit.common import emit_json

    emit_json(main())
