"""Python-side time of one update of the serving lecture widget (a control moves: static,
continuous and chunked batching re-simulated on 1000 requests by the simulator's fast path,
the panel redrawn in place and encoded as PNG). Prints one JSON object: per control, the median
and the worst single update in ms, wall and this process's CPU time (widget_timing.py), with
the load average. Every move goes to a value not seen before (no repeat is served from a cache).

    python benchmarks/serving_widget.py
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from widget_timing import median_ms  # noqa: E402  (benchmarks/ is on the path when run as a script)


def main() -> dict:
    from mlsys_kit.serving.viz import serving_explorer

    box = serving_explorer()
    rate, budget, mix = box.children[0].children
    prompt, output, blocks = box.children[1].children
    return {"requests": 1000,
            "serving_update_ms_rate": median_ms(rate, [4.0, 12.0, 6.0, 16.0, 10.0, 20.0, 5.0, 14.0, 9.0, 24.0]),
            "serving_update_ms_budget": median_ms(budget, [256, 1024, 128, 768, 2048, 384, 640, 1536]),
            "serving_update_ms_prompt": median_ms(prompt, [64, 256, 96, 512, 192, 160]),
            "serving_update_ms_blocks": median_ms(blocks, [512, 1024, 4096, 768, 3072, 1536]),
            "load_average_1min": round(os.getloadavg()[0], 2)}


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
