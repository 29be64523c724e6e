"""Python-side time of one lecture-demo update (a control moves: recompute and redraw), per
demo, at its default sizes. Prints one JSON object (milliseconds; median of 10)."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def time_updates(move, n: int = 10) -> float:
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        move(i)
        times.append(time.perf_counter() - t0)
    return round(1000 * statistics.median(times), 1)


def costs_demo() -> float:
    from mlsys_kit.viz.costs import costs_explorer

    box = costs_explorer()
    tokens = box.children[1].children[0]
    return time_updates(lambda i: setattr(tokens, "value", 1024 + 128 * (i % 8 + 1)))


if __name__ == "__main__":
    print(json.dumps({"costs_update_ms": costs_demo()}, indent=2))
