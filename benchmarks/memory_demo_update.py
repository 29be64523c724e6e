"""Python-side time of one update of the training-memory lecture widget (a slider moves: plan
all six policies, simulate them, redraw, encode the PNG). Prints one JSON object (milliseconds,
median of 8 moves of each slider; the goal is under 200 ms): wall time and this process's CPU
time (a busy shared machine inflates the first much more than the second).

    python benchmarks/memory_demo_update.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from widget_timing import median_ms  # noqa: E402  (benchmarks/ is on the path when run as a script)


if __name__ == "__main__":
    from mlsys_kit.memory.viz import memory_explorer

    box = memory_explorer()
    budget, link = box.children[0].children
    batch, model = box.children[1].children
    print(json.dumps({
        "memory_update_ms_budget": median_ms(budget, [4 + 2 * i for i in range(8)]),
        "memory_update_ms_link": median_ms(link, [2.0 * 1.7 ** i for i in range(8)]),
        "memory_update_ms_batch": median_ms(batch, [2 + 3 * i for i in range(8)]),
    }, indent=2))
