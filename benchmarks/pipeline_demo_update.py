"""Python-side time of one update of the pipeline lecture widget (a control moves: regenerate,
simulate, redraw Gantt + memory as PNG) at p=8, m=32, for each schedule. Prints one JSON object:
per schedule, the median and the worst single update in ms, wall and this process's CPU time
(widget_timing.py; the wall time also counts waiting for a core on a shared machine).

    python benchmarks/pipeline_demo_update.py
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from widget_timing import median_ms  # noqa: E402  (benchmarks/ is on the path when run as a script)

from mlsys_kit.pipeline.generators import SCHEDULES  # noqa: E402
from mlsys_kit.pipeline.widgets import pipeline_explorer  # noqa: E402


def main() -> dict:
    box = pipeline_explorer(p=8, m=32)
    name, p, m = box.children[0].children
    tb = box.children[1].children[1]
    out = {}
    for sched in SCHEDULES:
        name.value = sched
        out[f"{sched}_update_ms"] = median_ms(tb, [1.25, 1.5, 1.75, 2.0, 1.1, 1.3])  # a slider moves: one full update
    out["schedule_switch_ms"] = median_ms(name, list(SCHEDULES) * 2)
    out["p"], out["m"] = 8, 32
    out["load_average_1min"] = round(os.getloadavg()[0], 2)
    out["cpus"] = os.cpu_count()
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
