"""Shared by the ``*_demo_update.py`` benchmarks: the time one widget update takes.

``median_ms(widget, values)`` sets ``widget.value`` to each value in turn (each set runs the
widget's observer: recompute, redraw, encode the PNG) and returns the median milliseconds of
wall time and of this process's CPU time (a busy shared machine inflates the first much more
than the second).
"""

from __future__ import annotations

import statistics
import time


def median_ms(widget, values) -> dict:
    wall, cpu = [], []
    for v in values:
        t0, c0 = time.perf_counter(), time.process_time()
        widget.value = v
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"wall": round(1000 * statistics.median(wall), 1), "cpu": round(1000 * statistics.median(cpu), 1)}
