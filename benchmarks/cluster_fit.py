"""Pollux's models fitted to the tiny GPT on one CPU thread (mlsys_kit/cluster/fit.py): the
held-out batch size's throughput and the noise model's predictions, printed as JSON.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/cluster_fit.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from mlsys_kit.common import emit_json
from mlsys_kit.cluster.fit import fit_report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3, help="independent runs (default 3)")
    args = ap.parse_args()
    if args.seeds < 1:
        ap.error(f"--seeds must be >= 1: got {args.seeds}")
    t0 = time.perf_counter()
    runs = [fit_report(seed=s) for s in range(args.seeds)]
    keys = ("throughput_rel_error", "grad_sq_rel_error", "efficiency_abs_error", "noise_scale")
    emit_json({
        "seeds": args.seeds,
        "seconds": round(time.perf_counter() - t0, 2),
        "median": {k: statistics.median(r[k] for r in runs) for k in keys},
        "max": {k: max(r[k] for r in runs) for k in keys},
        "runs": [{k: r[k] for k in keys + ("held_out_throughput_measured", "held_out_throughput_predicted",
                                           "alpha_grad", "beta_grad")} for r in runs],
    })


if __name__ == "__main__":
    main()
