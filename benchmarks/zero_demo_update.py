"""Python-side time of one update of the ZeRO lecture widget (a slider moves: recompute the
model for stages 0-3, redraw the three panels, encode the PNG). Prints one JSON object
(milliseconds, median of 10 moves of each slider; the goal is under 200 ms): wall time, and
the CPU time of this process, which a busy shared machine inflates much less.

    python benchmarks/zero_demo_update.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from widget_timing import median_ms  # noqa: E402  (benchmarks/ is on the path when run as a script)


if __name__ == "__main__":
    from mlsys_kit.zero.viz import zero_explorer

    box = zero_explorer()
    size, nd = box.children[0].children
    k, mem = box.children[1].children
    print(json.dumps({
        "zero_update_ms_model_size": median_ms(size, [0.2 * 1.8 ** i for i in range(10)]),
        "zero_update_ms_ranks": median_ms(nd, [2 ** (i % 12 + 1) for i in range(10)]),
        "zero_update_ms_k": median_ms(k, [4 + 2 * i for i in range(10)]),
        "zero_update_ms_device_memory": median_ms(mem, [16 + 8 * i for i in range(10)]),
    }, indent=2))
