"""Python-side time of one update of the serving lecture widget (a slider moves: three schedulers
re-simulated on 1000 requests, figure redrawn to PNG). Prints one JSON object (ms, median of 10,
wall time and this process's CPU time, with the load average)."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> dict:
    from mlsys_kit.serving.viz import serving_explorer

    box = serving_explorer()
    rate = box.children[0].children[0]
    times, cpu = [], []
    for i in range(10):
        t0, c0 = time.perf_counter(), time.process_time()
        rate.value = 4.0 + (i % 8)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"serving_update_ms": round(1000 * statistics.median(times), 1),
            "serving_update_ms_max": round(1000 * max(times), 1), "requests": 1000,
            # CPU time of this process: what the update costs on a machine shared with other work
            "serving_update_cpu_ms": round(1000 * statistics.median(cpu), 1),
            "serving_update_cpu_ms_max": round(1000 * max(cpu), 1),
            "load_average_1min": round(__import__("os").getloadavg()[0], 2)}


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
