"""Python-side time of one update of the parallelism lecture widget (a control moves: re-run
the planner's narrowed search, redraw the (t, p) heat map, encode the PNG, rebuild the
breakdown bars). Prints one JSON object (milliseconds, median of the moves of each control;
the goal is under 200 ms): wall time and this process's CPU time.

    python benchmarks/parallel_demo_update.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from widget_timing import median_ms  # noqa: E402  (benchmarks/ is on the path when run as a script)


if __name__ == "__main__":
    from mlsys_kit.parallel.viz import parallel_explorer

    box = parallel_explorer()
    model, n, batch = box.children[0].children
    intra, inter = box.children[1].children
    print(json.dumps({
        "parallel_update_ms_nvlink": median_ms(intra, [100, 200, 50, 150, 300]),
        "parallel_update_ms_network": median_ms(inter, [10, 50, 5, 12.5, 25]),
        "parallel_update_ms_devices": median_ms(n, [32, 128, 64, 32, 64]),
        "parallel_update_ms_global_batch": median_ms(batch, [256, 1024, 512, 256, 512]),
        "parallel_update_ms_model": median_ms(model, ["llama2-7b", "gpt3-175b", "llama2-70b", "llama2-7b", "llama2-70b"]),
    }, indent=2))
