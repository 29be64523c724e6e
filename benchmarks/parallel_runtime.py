"""Step time (forward + backward) of the tiny GPT with real tensor parallelism on gloo against
the single-process model, at t = 2 (and t = 4 with --four), with and without sequence
parallelism; also the bytes each rank sent (counted and predicted). Median of --repeats steps
after one untimed step. Prints one JSON object.

    python benchmarks/parallel_runtime.py [--repeats 10] [--four] [--width 256]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if __name__ == "__main__":
    from mlsys_kit.parallel.launch import DEFAULT_MODEL, run_config, run_tensor_parallel

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--four", action="store_true", help="also t = 4")
    ap.add_argument("--width", type=int, default=32, help="n_embd of the model (default 32, the tests' size)")
    args = ap.parse_args()
    model = dict(DEFAULT_MODEL, n_embd=args.width)
    out = {"model": model, "batch": 4, "seq": 64}
    for t in ((2, 4) if args.four else (2,)):
        runs = run_tensor_parallel([run_config(t, sp, batch=4, seq=64, model=model, repeats=args.repeats)
                                    for sp in (False, True)])
        for r in runs:
            key = f"t{t}{'_sp' if r['sequence_parallel'] else ''}"
            out[key] = {"step_time_ms": round(1e3 * r["step_time_s"], 2),
                        "single_process_step_time_ms": round(1e3 * r["single_process_step_time_s"], 2),
                        "matches_single_process": r["matches_single_process"],
                        "bytes_sent_measured": r["bytes_sent_measured"], "bytes_sent_predicted": r["bytes_sent_predicted"]}
    print(json.dumps(out, indent=2))
