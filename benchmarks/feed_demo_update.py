"""Python-side time of one update of the feed lecture widgets (a control moves: the simulator
reruns, the artists move, the figure is encoded as PNG). Prints one JSON object (ms, median of
12 moves).

    .venv/bin/python benchmarks/feed_demo_update.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _median_ms(moves) -> tuple[float, float]:
    times = []
    for widget, value in moves:
        t = time.perf_counter()
        widget.value = value
        times.append(time.perf_counter() - t)
    return round(1000 * statistics.median(times), 1), round(1000 * max(times), 1)


def main() -> dict:
    from mlsys_kit.feed.widgets import cache_explorer, comm_explorer

    t0 = time.perf_counter()
    comm = comm_explorer()
    startup = time.perf_counter() - t0
    bw, nw, lat = comm.children[0].children
    part, cred, name = comm.children[1].children
    moves = [(bw, 25.0), (part, 256), (cred, 16), (nw, 16), (lat, 100.0), (name, "gpt2"), (bw, 400.0), (part, 4096),
             (cred, 1), (nw, 4), (lat, 0.0), (name, "vgg16")]
    comm_ms, comm_max = _median_ms(moves)
    cache = cache_explorer()
    ds, mem = cache.children[0].children
    sto, cores = cache.children[1].children
    moves = [(mem, 50.0), (ds, 300.0), (sto, 1000.0), (cores, 8), (mem, 200.0), (ds, 100.0), (sto, 100.0),
             (cores, 48), (mem, 91.0), (ds, 140.0), (sto, 250.0), (cores, 24)]
    cache_ms, cache_max = _median_ms(moves)
    return {"comm_update_ms": comm_ms, "comm_update_ms_max": comm_max, "cache_update_ms": cache_ms,
            "cache_update_ms_max": cache_max, "startup_s": round(startup, 2)}


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
