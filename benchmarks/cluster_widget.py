"""Python-side time of one update of the cluster lecture widget (a slider moves: a precomputed run
picked, the Gantt rectangles and CDF lines swapped, two panels redrawn to PNG), and its start-up
time. Prints one JSON object (ms, median of 12 moves).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/cluster_widget.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> dict:
    from mlsys_kit.cluster.widgets import cluster_explorer

    t0 = time.perf_counter()
    box = cluster_explorer()
    startup = time.perf_counter() - t0
    load, het = box.children[0].children
    policy = box.children[1]
    moves = [(policy, "fifo"), (load, 0.8), (het, 0.0), (policy, "gavel"), (het, 0.5), (load, 1.4),
             (policy, "srtf"), (het, 1.0), (policy, "gavel-agnostic"), (load, 0.8), (policy, "tiresias"), (het, 0.5)]
    times = []
    for widget, value in moves:
        t = time.perf_counter()
        widget.value = value
        times.append(time.perf_counter() - t)
    return {"cluster_update_ms": round(1000 * statistics.median(times), 1),
            "cluster_update_ms_max": round(1000 * max(times), 1), "startup_s": round(startup, 2)}


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
