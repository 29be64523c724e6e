"""Python-side time of one update of the disaggregation lecture widget (a slider moves: SLO
recount or a precomputed run picked, figure redrawn to PNG), and its start-up time. Prints one
JSON object (ms, median of 12 moves; and the time of one full garbage collection)."""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> dict:
    from mlsys_kit.disagg.viz import disagg_explorer

    t0 = time.perf_counter()
    box = disagg_explorer()
    startup = time.perf_counter() - t0
    ttft, tpot = box.children[0].children
    link, rate = box.children[1].children
    moves = [(ttft, 0.3), (tpot, 0.05), (link, 25), (rate, 6.0), (ttft, 0.5), (tpot, 0.1), (link, 100), (rate, 2.0),
             (ttft, 0.25), (tpot, 0.04), (link, 5), (rate, 4.0)]
    times = []
    for widget, value in moves:
        t = time.perf_counter()
        widget.value = value
        times.append(time.perf_counter() - t)
    # The widget does not freeze the garbage collector (issue #18): the worst an update can meet is
    # a full collection of everything the process holds, timed here once.
    t = time.perf_counter()
    gc.collect()
    full_gc = time.perf_counter() - t
    return {"disagg_update_ms": round(1000 * statistics.median(times), 1),
            "disagg_update_ms_max": round(1000 * max(times), 1), "startup_s": round(startup, 2),
            "gc_tracked_objects": len(gc.get_objects()), "gc_full_collect_ms": round(1000 * full_gc, 1)}


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
