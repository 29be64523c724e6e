"""The failure simulator of :mod:`mlsys_kit.fault.failsim`, vectorised over failure gaps (numpy).

Between two failures the job does the same thing every time, so each gap g (drawn in the
same order as the teaching path draws them) is handled on its own: after a failure a gap
shorter than R is a failed restart; otherwise the restart takes R and the remaining
w = g - R (w = g for the first gap) completes floor(w / (T + C)) intervals and loses the
rest. The run ends in the first gap where the completed intervals reach ``segments``.
Equal to the teaching path (tests); fast enough for years of a 10k-device job per second
(benchmarks/fault_sim.py). Also here, as they need many runs: :func:`best_interval` (the
simulator's optimum) and :func:`breakdown` (where the first-order formula stops holding).
"""

from __future__ import annotations

import numpy as np

from mlsys_kit.checks import nonneg_int, positive_number
from mlsys_kit.fault.failsim import SimResult, check_args
from mlsys_kit.fault.waste import daly_interval, exact_waste_fraction, waste_fraction


def simulate_fast(interval: float, checkpoint: float, restart: float, mtbf: float, segments: int,
                  seed: int = 0) -> SimResult:
    """Same arguments, same random numbers and same result as :func:`failsim.simulate` (no timeline)."""
    check_args(interval, checkpoint, restart, mtbf, segments)
    nonneg_int("seed", seed)
    rng = np.random.default_rng(seed)
    seg = interval + checkpoint
    gaps = np.empty(0)
    n = int(segments * seg / mtbf * 1.2) + 16
    while True:
        gaps = np.concatenate([gaps, rng.exponential(mtbf, size=n)])
        after = np.arange(gaps.size) >= 1  # every gap but the first starts with a restart
        restart_ok = ~after | (gaps >= restart)
        work = np.where(after, np.maximum(gaps - restart, 0.0), gaps)
        k = np.where(restart_ok, np.floor(work / seg), 0.0)
        reached = np.nonzero(np.cumsum(k) >= segments)[0]
        if reached.size:
            break
        n = gaps.size  # draw as many again
    i = int(reached[0])
    before = float(k[:i].sum())
    head = gaps[:i]
    restarting = float(np.minimum(head[1:], restart).sum()) + (restart if i >= 1 else 0.0)
    lost = float((work[:i] - k[:i] * seg).sum())
    wall = float(head.sum()) + (restart if i >= 1 else 0.0) + (segments - before) * seg
    return SimResult(wall_time=wall, useful=float(segments * interval), checkpointing=float(segments * checkpoint),
                     lost=lost, restarting=restarting, failures=i, checkpoints=segments)


def best_interval(checkpoint: float, restart: float, mtbf: float, intervals: list[float] | None = None,
                  work: float | None = None, seed: int = 0) -> tuple[float, list[tuple[float, float]]]:
    """The simulator's best interval among ``intervals`` (default: 25 around Young's, x0.25 to x4),
    each run on the same seed (common random numbers) for ``work`` seconds of compute (default
    about 4000 M). Returns (best T, [(T, measured waste)])."""
    positive_number("checkpoint cost C (s)", checkpoint)
    t0 = daly_interval(checkpoint, mtbf)
    grid = intervals or [t0 * 2 ** (k / 6) for k in range(-12, 13)]
    work = 4000 * mtbf if work is None else positive_number("work (s)", work)
    curve = []
    for t in grid:
        positive_number("interval T (s)", t)
        segs = max(1, round(work / t))
        curve.append((t, simulate_fast(t, checkpoint, restart, mtbf, segs, seed=seed).waste_fraction))
    return min(curve, key=lambda p: p[1])[0], curve


def breakdown(checkpoint: float, restart: float, mtbf: float, ratios: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 2.0),
              work: float | None = None, seed: int = 0) -> list[dict[str, float]]:
    """Where the first-order formula stops holding: for T = ratio·M, Young's waste, Daly's exact
    waste and the simulated one. At T ≪ M the three agree; as T nears M the first-order formula
    drifts away (it counts T/2 lost per failure and ignores failures that repeat a redo), while
    the exact model keeps matching the simulation."""
    work = 2000 * mtbf if work is None else positive_number("work (s)", work)
    rows = []
    for ratio in ratios:
        t = positive_number("ratio (T/M)", ratio) * mtbf
        sim = simulate_fast(t, checkpoint, restart, mtbf, max(1, round(work / t)), seed=seed)
        rows.append({"ratio": ratio, "interval": t, "first_order": waste_fraction(t, checkpoint, restart, mtbf),
                     "exact": exact_waste_fraction(t, checkpoint, restart, mtbf), "simulated": sim.waste_fraction})
    return rows
