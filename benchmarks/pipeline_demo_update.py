"""Python-side time of one update of the pipeline lecture widget (a control moves: regenerate,
simulate, redraw Gantt + memory as PNG) at p=8, m=32 for each schedule. One JSON object (ms, median of 5):
``*_update_ms`` is wall time, ``*_update_cpu_ms`` the CPU time of this process (what the update costs
on an idle core; the wall time also counts waiting for a core on a shared machine)."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlsys_kit.pipeline.generators import SCHEDULES  # noqa: E402
from mlsys_kit.pipeline.widgets import pipeline_explorer  # noqa: E402


def main() -> dict:
    box = pipeline_explorer(p=8, m=32)
    name, p, m = box.children[0].children
    tb = box.children[1].children[1]
    out = {}
    for sched in SCHEDULES:
        name.value = sched
        times, cpu = [], []
        for i in range(5):
            t0, c0 = time.perf_counter(), time.process_time()
            tb.value = 1.0 + 0.25 * (i % 2 + 1)  # a slider moves: one full update
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        out[f"{sched}_update_ms"] = round(1000 * statistics.median(times), 1)
        out[f"{sched}_update_cpu_ms"] = round(1000 * statistics.median(cpu), 1)
    out["p"], out["m"] = 8, 32
    out["load_average_1min"] = round(__import__("os").getloadavg()[0], 2)
    out["cpus"] = __import__("os").cpu_count()
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
