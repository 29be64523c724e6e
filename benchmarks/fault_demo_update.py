"""Python-side time of one update of each fault-tolerance lecture widget (a control moves:
recompute, move the artists, redraw, encode the PNG). Prints one JSON object, milliseconds per
control over 8 moves: ``fault_<widget>_<control>_ms`` the median wall time,
``..._worst`` the slowest move's wall time and ``..._cpu_ms`` the median CPU time of this process
(a busy shared machine inflates wall time much more than CPU time). The goal is under 100 ms.

    python benchmarks/fault_demo_update.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed(widget, values) -> tuple[float, float, float]:
    wall, cpu = [], []
    for v in values:
        t0, c0 = time.perf_counter(), time.process_time()
        widget.value = v
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return (round(1000 * statistics.median(wall), 1), round(1000 * max(wall), 1),
            round(1000 * statistics.median(cpu), 1))


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
    out = {}
    for name, (widget, values) in cases.items():
        med, worst, cpu = timed(widget, values)
        out[f"fault_{name}_ms"], out[f"fault_{name}_worst"], out[f"fault_{name}_cpu_ms"] = med, worst, cpu
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
