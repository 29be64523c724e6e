"""FlexGen's policy search (an LP per (batch size, batches per block) on HiGHS): wall time of a
whole search and the plan it finds, for OPT-6.7B/30B/175B on one T4 (16 GB, 208 GB host, 1.5 TB
SSD), zig-zag and row-by-row. Prints one JSON object (seconds, tokens/s).

    .venv/bin/python benchmarks/offload_search.py
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> dict:
    from mlsys_kit.offload.config import Workload, hardware, model
    from mlsys_kit.offload.search import search

    hw = hardware("t4-16gb", 208, 1500)
    out: dict = {}
    for name in ("opt-6.7b", "opt-30b", "opt-175b"):
        for schedule in ("zigzag", "row"):
            t0 = time.perf_counter()
            res = search(model(name), hw, Workload(512, 32), schedule)
            out[f"{name}_{schedule}"] = {"search_s": round(time.perf_counter() - t0, 3),
                                         "lps_solved": len(res["candidates"]),
                                         "tokens_per_s": round(res["tokens_per_s"], 4), "batch": res["batch"]}
    out["load_average_1min"] = round(os.getloadavg()[0], 2)
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
