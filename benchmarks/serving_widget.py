"""Python-side time of one update of the serving lecture widget (a slider moves: three schedulers
re-simulated on 1000 requests, figure redrawn to PNG). Prints one JSON object (ms, median of 10)."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> dict:
    from mlsys_kit.viz.serving import serving_explorer

    box = serving_explorer()
    rate = box.children[0].children[0]
    times = []
    for i in range(10):
        t0 = time.perf_counter()
        rate.value = 4.0 + (i % 8)
        times.append(time.perf_counter() - t0)
    return {"serving_update_ms": round(1000 * statistics.median(times), 1),
            "serving_update_ms_max": round(1000 * max(times), 1), "requests": 1000}


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
