"""Placement with locality: which machines a job's GPUs sit on, and what spreading costs.

Philly (Jeon et al., ATC'19, section 3.1 and figure 5) finds that a distributed job whose GPUs sit
on more machines than needed runs slower (its all-reduce crosses the network instead of NVLink /
PCIe), and that the scheduler's locality constraint trades this against queueing delay. Tiresias
(NSDI'19, section 3.3, figure 3) measures the slowdown per model. We keep one number: a job spread
over more machines than the fewest that could hold it runs at ``spread_factor`` of its throughput.

:func:`place` packs a gang: best fit on one machine if any machine has room (the one with the
least room left, to keep big holes for big jobs), else the machines with the most free GPUs first
(the fewest machines that hold it).
"""

from __future__ import annotations

from typing import Sequence

from mlsys_kit.checks import positive_int


def place(free: Sequence[int], candidates: Sequence[int], gpus: int) -> tuple[int, ...] | None:
    """Machine index of each of ``gpus`` GPUs, taken from ``candidates`` (machine indices into
    ``free``, the free GPUs per machine), or None if they hold fewer than ``gpus`` free GPUs."""
    positive_int("gpus", gpus)
    best = None
    for m in candidates:
        if free[m] >= gpus and (best is None or free[m] < free[best]):
            best = m
    if best is not None:
        return (best,) * gpus
    out: list[int] = []
    for m in sorted(candidates, key=lambda m: (-free[m], m)):
        take = min(free[m], gpus - len(out))
        out += [m] * take
        if len(out) == gpus:
            return tuple(out)
    return None


def min_machines(sizes: Sequence[int], gpus: int) -> int:
    """The fewest machines of these ``sizes`` (GPUs per machine) that hold ``gpus`` GPUs."""
    positive_int("gpus", gpus)
    n = total = 0
    for s in sorted(sizes, reverse=True):
        n, total = n + 1, total + s
        if total >= gpus:
            return n
    raise ValueError(f"{gpus} GPUs do not fit on machines of sizes {list(sizes)}")


def locality_factor(n_machines: int, fewest: int, spread_factor: float) -> float:
    """Throughput multiplier of a gang on ``n_machines`` when ``fewest`` would do (Philly, ATC'19,
    section 3.1): 1 when packed, ``spread_factor`` when spread further."""
    if not 0 < spread_factor <= 1:
        raise ValueError(f"spread_factor must be in (0, 1]: got {spread_factor!r}")
    return 1.0 if n_machines <= fewest else spread_factor
