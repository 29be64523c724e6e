"""Python-side time of one update of each fault-tolerance lecture widget (a control moves:
recompute, move the artists, redraw, encode the PNG). Prints one JSON object: per control
``fault_<widget>_<control>``, over 8 moves, the median and the worst single update in ms, wall
and this process's CPU time (widget_timing.py: a busy shared machine inflates wall time much
more than CPU time), with the load average. The goal: median under 100 ms, worst under 150.

    python benchmarks/fault_demo_update.py
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
    from mlsys_kit.fault.widgets import placement_explorer, timeline_explorer, waste_explorer

    waste, timeline, place = waste_explorer(), timeline_explorer(), placement_explorer()
    (dev, mtbf), (gb, strat) = waste.children[0].children, waste.children[1].children
    (tm, ti, tc), (tr, ts) = timeline.children[0].children, timeline.children[1].children
    ns, mr = place.children[0].children
    ns.value = 16
    cases = {
        "waste_devices": (dev, [64 * 2 ** (i % 8) for i in range(8)]),
        "waste_mtbf": (mtbf, [10 ** (2 + 0.4 * i) for i in range(8)]),
        "waste_checkpoint": (gb, [10 ** (0.5 * i) for i in range(8)]),
        "waste_strategy": (strat, ["in-memory", "remote"] * 4),
        "timeline_mtbf": (tm, [1.0 + 3 * i for i in range(8)]),
        "timeline_interval": (ti, [10.0 + 25 * i for i in range(8)]),
        "timeline_checkpoint": (tc, [1.0 + 3 * i for i in range(8)]),
        "timeline_restart": (tr, [5.0 * i for i in range(8)]),
        "timeline_seed": (ts, list(range(1, 9))),
        "placement_n": (ns, [8, 12, 16, 20, 24, 28, 32, 10]),
        "placement_m": (mr, [2, 3, 4, 5, 2, 3, 4, 5]),
    }
    out: dict = {f"fault_{name}": median_ms(widget, values) for name, (widget, values) in cases.items()}
    for name in cases:  # the keys this script printed before (docs/fault.md): median and worst wall ms, median CPU ms
        t = out[f"fault_{name}"]
        out[f"fault_{name}_ms"], out[f"fault_{name}_worst"], out[f"fault_{name}_cpu_ms"] = t["wall"], t["wall_max"], t["cpu"]
    out["load_average_1min"] = round(os.getloadavg()[0], 2)
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
