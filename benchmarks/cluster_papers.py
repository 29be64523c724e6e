"""The papers' headline ratios of average JCT re-run in the simulator (mlsys_kit/cluster/experiments.py):
Tiresias vs FIFO and SRTF, Gavel heterogeneity-aware vs agnostic, Pollux vs Tiresias, over several
seeds of the generated Philly-shaped trace. Prints one JSON object (per comparison: the paper's
ratio and where it is stated, the simulator's median, min and max over seeds).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/cluster_papers.py [--jobs 300 --load 1.2 --seeds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> dict:
    from mlsys_kit.cluster.experiments import PAPER, paper_numbers

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=300)
    p.add_argument("--load", type=float, default=1.2)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--no-pollux", action="store_true", help="skip Pollux (the slowest policy)")
    args = p.parse_args(argv)
    t = time.perf_counter()
    runs = [paper_numbers(args.jobs, args.load, seed, pollux=not args.no_pollux) for seed in range(1, args.seeds + 1)]
    out = {"jobs": args.jobs, "load": args.load, "seeds": args.seeds, "ratios": {}}
    for k in runs[0]["ratios"]:
        sims = [r["ratios"][k]["sim"] for r in runs]
        out["ratios"][k] = {"paper": PAPER[k][0], "source": PAPER[k][1], "sim_median": statistics.median(sims),
                            "sim_min": min(sims), "sim_max": max(sims), "sim_per_seed": sims}
    out["avg_jct_hours_seed1"] = {s: {p: v["avg_jct"] / 3600 for p, v in d.items()}
                                  for s, d in runs[0]["metrics"].items()}
    out["wall_seconds"] = time.perf_counter() - t
    return out


if __name__ == "__main__":
    from mlsys_kit.common import emit_json

    emit_json(main())
