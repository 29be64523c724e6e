"""Python-side time of one update of the offloading lecture widget (the InfiniGen fraction slider
moves: set four bars, redraw the small picture, encode the PNG). Prints one JSON object
(milliseconds, median of 20 moves; the goal is under 100 ms): wall time and this process's CPU
time.

    python benchmarks/offload_demo_update.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from widget_timing import median_ms  # noqa: E402  (benchmarks/ is on the path when run as a script)


if __name__ == "__main__":
    from mlsys_kit.offload.widgets import prefetch_explorer

    box = prefetch_explorer()
    slider = box.children[0]
    print(json.dumps({"offload_update_ms_fraction": median_ms(slider, [round(0.05 * i, 2) for i in range(20, 0, -1)])},
                     indent=2))
