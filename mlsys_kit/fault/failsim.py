"""A seeded failure simulator: exponential failures, periodic checkpoints, restarts, lost work.

The model of :mod:`mlsys_kit.fault.waste` (Young 1974; Daly 2006 section 3), played out event
by event. The job must finish ``segments`` intervals of T seconds of compute, each followed by
a checkpoint of C seconds. Failures of the whole job arrive as a Poisson process of rate 1/M
(N devices of MTBF ``mtbf`` each: M = mtbf/N); a failure at any moment (computing,
checkpointing or restarting) loses everything since the last completed checkpoint and starts
a restart of R seconds. Waste = 1 - useful work / wall time.

This file is the teaching path (one loop over events, read top to bottom);
:mod:`mlsys_kit.fault.failsim_fast` is the same process vectorised over the gaps between
failures with numpy, drawing the same random numbers, and equal to it (tests).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mlsys_kit.checks import nonneg_int, nonneg_number, positive_int, positive_number


MAX_EXPECTED_FAILURES = 5e6


@dataclass
class SimResult:
    """What one simulated run spent its wall time on (seconds)."""

    wall_time: float
    useful: float
    checkpointing: float
    lost: float
    restarting: float
    failures: int
    checkpoints: int
    events: list[tuple[str, float, float]] = field(default_factory=list)  # (kind, start, end)

    @property
    def waste_fraction(self) -> float:
        return 1.0 - self.useful / self.wall_time

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("events")
        d["waste_fraction"] = self.waste_fraction
        return d


def check_args(interval: float, checkpoint: float, restart: float, mtbf: float, segments: int) -> None:
    positive_number("interval T (s)", interval)
    nonneg_number("checkpoint cost C (s)", checkpoint)
    nonneg_number("restart cost R (s)", restart)
    positive_number("job MTBF M (s)", mtbf)
    positive_int("segments (intervals of work to finish)", segments)
    # Daly's eq. 12: the run meets about segments * e^{R/M} (e^{(T+C)/M} - 1) failures; past a few
    # million the simulation would hardly end (and hold every gap in memory): say so instead
    x = (interval + checkpoint) / mtbf
    expected = math.inf if x + restart / mtbf > 30 else segments * math.exp(restart / mtbf) * math.expm1(x)
    if expected > MAX_EXPECTED_FAILURES:
        raise ValueError(f"an interval plus its checkpoint of {interval + checkpoint:.4g} s against a job MTBF of "
                         f"{mtbf:.4g} s expects about {expected:.3g} failures for {segments} intervals: the job would "
                         f"hardly ever finish one; allowed: at most {MAX_EXPECTED_FAILURES:.0e} expected failures "
                         "(shorten the interval, cheapen the checkpoint, or raise the MTBF)")


def simulate(interval: float, checkpoint: float, restart: float, mtbf: float, segments: int,
             seed: int = 0, record: bool = False) -> SimResult:
    """Run the job to the end of ``segments`` checkpointed intervals; ``record`` keeps the timeline.

    Failure gaps are drawn one at a time with ``numpy.random.default_rng(seed).exponential(mtbf)``.
    """
    check_args(interval, checkpoint, restart, mtbf, segments)
    nonneg_int("seed", seed)
    rng = np.random.default_rng(seed)
    r = SimResult(0.0, 0.0, 0.0, 0.0, 0.0, 0, 0)
    now, done = 0.0, 0
    next_failure = rng.exponential(mtbf)
    seg = interval + checkpoint
    in_restart = False
    while done < segments:
        if in_restart:  # a restart must run R seconds without a failure
            if next_failure < now + restart:
                r.restarting += next_failure - now
                _log(r, record, "restart", now, next_failure)
                now, next_failure = next_failure, next_failure + rng.exponential(mtbf)
                r.failures += 1
                continue
            r.restarting += restart
            _log(r, record, "restart", now, now + restart)
            now += restart
            in_restart = False
        if next_failure < now + seg:  # fails mid-interval: the work since the checkpoint is lost
            r.lost += next_failure - now
            _log(r, record, "lost", now, next_failure)
            now, next_failure = next_failure, next_failure + rng.exponential(mtbf)
            r.failures += 1
            in_restart = True
            continue
        r.useful += interval
        r.checkpointing += checkpoint
        _log(r, record, "compute", now, now + interval)
        _log(r, record, "checkpoint", now + interval, now + seg)
        now += seg
        done += 1
        r.checkpoints += 1
    r.wall_time = now
    return r


def _log(r: SimResult, record: bool, kind: str, start: float, end: float) -> None:
    if record:
        r.events.append((kind, start, end))

