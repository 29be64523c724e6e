"""Overhead of the real check on the tiny GPT: one training step under each policy's plan with
torch (checkpoint, offload hooks, the saved-bytes counter) against the plain step. Prints one
JSON object: the median step time of ``--repeat`` runs per plan, the ratio to the plain step,
and whether saved bytes, recompute count and gradients matched.

    python benchmarks/memory_real.py [--preset tiny] [--batch 8] [--seq 128] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if __name__ == "__main__":
    import torch

    from mlsys_kit.memory.real import run_plan

    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    plans = {"all": "KKKK", "every-1": "CCCC", "sqrt": "CRCR", "offload": "SSSK", "hybrid-like": "KCRS"}
    run_plan("KKKK", a.preset, a.batch, a.seq, device=a.device)  # warm-up (imports, allocator)
    rows = []
    for name, p in plans.items():
        runs = [run_plan(p, a.preset, a.batch, a.seq, device=a.device) for _ in range(a.repeat)]
        step = statistics.median(r["step_time_s"] for r in runs)
        plain = statistics.median(r["plain_step_time_s"] for r in runs)
        r = runs[0]
        row = {"policy": name, "plan": p, "step_ms": round(1e3 * step, 2), "plain_step_ms": round(1e3 * plain, 2),
               "overhead": round(step / plain, 3), "bitwise_equal": all(x["bitwise_equal"] for x in runs),
               "saved_bytes_match": r["saved_bytes_measured"] == r["saved_bytes_predicted"],
               "saved_bytes_measured": r["saved_bytes_measured"], "saved_bytes_predicted": r["saved_bytes_predicted"],
               "recompute_count_match": r["recompute_count_measured"] == r["recompute_count_predicted"]}
        if "cuda_max_memory_allocated" in r:
            row["cuda_max_memory_allocated"] = r["cuda_max_memory_allocated"]
        rows.append(row)
    print(json.dumps({"preset": a.preset, "batch": a.batch, "seq": a.seq, "device": a.device,
                      "threads": torch.get_num_threads(), "plans": rows}, indent=2))
