"""The real gloo run of mlsys_kit/feed/comm_real.py (2 and 4 CPU processes): gradients against
DDP's and the measured median iteration (backward + next forward) per policy beside the
simulator's prediction from measured layer and network times. Prints one JSON object (ms).

    .venv/bin/python benchmarks/feed_comm_real.py
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> dict:
    from mlsys_kit.feed.comm_real import run_real

    out: dict = {"cpu_cores": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2)}
    for ranks in (2, 4):
        r = run_real(ranks=ranks, steps=8)
        out[f"{ranks}_ranks"] = {
            "matches_ddp": r["matches_ddp"], "bitwise": r["bitwise"],
            "max_abs_diff": max(p["max_abs_diff"] for p in r["policies"].values()),
            **{f"{p}_measured_ms": round(x["iteration_time_s"] * 1e3, 2) for p, x in r["policies"].items()},
            **{f"{p}_simulated_ms": round(x["simulated_s"] * 1e3, 2) for p, x in r["policies"].items()},
            "measured_order": r["measured_order"], "simulated_order": r["simulated_order"],
            "same_order": r["same_order"]}
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
