"""Python-side time of one update of the feed lecture widgets (a control moves: the simulator
reruns, the artists move, the figure is encoded as PNG). Prints one JSON object: per widget,
over 12 moves across its controls, the median and the worst single update in ms, wall and this
process's CPU time (widget_timing.py), and the widgets' start-up time.

    .venv/bin/python benchmarks/feed_demo_update.py
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from widget_timing import moves_ms  # noqa: E402  (benchmarks/ is on the path when run as a script)


def main() -> dict:
    from mlsys_kit.feed.widgets import cache_explorer, comm_explorer

    t0 = time.perf_counter()
    comm = comm_explorer()
    startup = time.perf_counter() - t0
    bw, nw, lat = comm.children[0].children
    part, cred, name = comm.children[1].children
    moves = [(bw, 25.0), (part, 256), (cred, 16), (nw, 16), (lat, 100.0), (name, "gpt2"), (bw, 400.0), (part, 4096),
             (cred, 1), (nw, 4), (lat, 0.0), (name, "vgg16")]
    comm_t = moves_ms(moves)
    cache = cache_explorer()
    ds, mem = cache.children[0].children
    sto, cores = cache.children[1].children
    moves = [(mem, 50.0), (ds, 300.0), (sto, 1000.0), (cores, 8), (mem, 200.0), (ds, 100.0), (sto, 100.0),
             (cores, 48), (mem, 91.0), (ds, 140.0), (sto, 250.0), (cores, 24)]
    cache_t = moves_ms(moves)
    return {"comm_update": comm_t, "cache_update": cache_t, "startup_s": round(startup, 2),
            "load_average_1min": round(os.getloadavg()[0], 2),
            # the keys this script printed before (docs/feed.md): median and worst wall ms
            "comm_update_ms": comm_t["wall"], "comm_update_ms_max": comm_t["wall_max"],
            "cache_update_ms": cache_t["wall"], "cache_update_ms_max": cache_t["wall_max"]}


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
