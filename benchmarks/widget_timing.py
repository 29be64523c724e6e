"""Shared by the lecture-widget benchmarks: the time one widget update takes.

``median_ms(widget, values)`` sets ``widget.value`` to each value in turn (each set runs the
widget's observer: recompute, redraw, encode the PNG) and returns, in milliseconds, the median
and the worst single update, in wall time and in this process's CPU time (a busy shared machine
inflates the first much more than the second). ``moves_ms(moves)`` does the same for a list of
(widget, value) moves across several controls. The goal (design.md, the topic contract): a
median under ``GOAL_MEDIAN_MS`` and no single update over ``GOAL_WORST_MS``.
"""

from __future__ import annotations

import statistics
import time

GOAL_MEDIAN_MS = 100.0
GOAL_WORST_MS = 150.0


def moves_ms(moves) -> dict:
    wall, cpu = [], []
    for widget, v in moves:
        t0, c0 = time.perf_counter(), time.process_time()
        widget.value = v
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"wall": round(1000 * statistics.median(wall), 1), "wall_max": round(1000 * max(wall), 1),
            "cpu": round(1000 * statistics.median(cpu), 1), "cpu_max": round(1000 * max(cpu), 1), "moves": len(wall)}


def median_ms(widget, values) -> dict:
    return moves_ms([(widget, v) for v in values])
