"""Wasted work of a checkpointed job and the best checkpoint interval.

A job runs on N devices; each fails independently (exponentially, per-device mean time
between failures ``mtbf``), so the job fails at rate N/mtbf: M = mtbf/N (:func:`job_mtbf`).
Every ``interval`` T seconds of compute it writes a checkpoint, which takes C seconds; after a
failure it restarts (R seconds: reschedule, load the checkpoint) and redoes the work since the
last checkpoint. All times are seconds.

* Young, "A first order approximation to the optimum checkpoint interval" (CACM 17(9), 1974):
  per second of useful work the job loses C/T to checkpoints, and per failure (one every M
  seconds) on average T/2 of redone work plus R of restart, so the expected waste fraction is
  ``C/T + (T/2 + R)/M`` (:func:`waste_fraction`), minimised at ``T = sqrt(2 C M)``
  (:func:`young_interval`).
* Daly, "A higher order estimate of the optimum checkpoint interval for restart dumps" (FGCS
  22(3), 2006), section 3: with failures also during checkpoints and restarts, the expected
  wall time per T of work is exactly ``M e^{R/M} (e^{(T+C)/M} - 1)`` (eq. 12;
  :func:`exact_waste_fraction` is one minus T over it) and its optimum is, to higher order,
  ``sqrt(2CM)[1 + sqrt(C/2M)/3 + (C/2M)/9] - C`` for C < 2M, else M (eq. 37,
  :func:`daly_interval`).

The first-order formula assumes C, R and T small against M; :mod:`mlsys_kit.fault.failsim`
measures where that stops being true.
"""

from __future__ import annotations

import math

from mlsys_kit.checks import nonneg_number, positive_int, positive_number


def job_mtbf(device_mtbf: float, devices: int) -> float:
    """M = mtbf/N: the mean time between failures of a job on ``devices`` independent devices."""
    positive_number("device MTBF (s)", device_mtbf)
    positive_int("devices", devices)
    return device_mtbf / devices


def _check(interval: float, checkpoint: float, restart: float, mtbf: float) -> None:
    positive_number("interval T (s)", interval)
    nonneg_number("checkpoint cost C (s)", checkpoint)
    nonneg_number("restart cost R (s)", restart)
    positive_number("job MTBF M (s)", mtbf)


def waste_fraction(interval: float, checkpoint: float, restart: float, mtbf: float) -> float:
    """Young's first-order expected waste: C/T + (T/2 + R)/M (may exceed 1 far outside its range)."""
    _check(interval, checkpoint, restart, mtbf)
    return checkpoint / interval + (interval / 2 + restart) / mtbf


def young_interval(checkpoint: float, mtbf: float) -> float:
    """T = sqrt(2 C M), the minimum of :func:`waste_fraction` (Young 1974)."""
    positive_number("checkpoint cost C (s)", checkpoint)
    positive_number("job MTBF M (s)", mtbf)
    return math.sqrt(2 * checkpoint * mtbf)


def daly_interval(checkpoint: float, mtbf: float) -> float:
    """Daly's (2006, eq. 37) higher-order optimum: sqrt(2CM)[1 + x^0.5/3 + x/9] - C, x = C/2M; M if C >= 2M."""
    positive_number("checkpoint cost C (s)", checkpoint)
    positive_number("job MTBF M (s)", mtbf)
    if checkpoint >= 2 * mtbf:
        return mtbf
    x = checkpoint / (2 * mtbf)
    return math.sqrt(2 * checkpoint * mtbf) * (1 + math.sqrt(x) / 3 + x / 9) - checkpoint


def expected_time_per_interval(interval: float, checkpoint: float, restart: float, mtbf: float) -> float:
    """Daly's eq. 12: expected wall time to finish T of work and its checkpoint, failures anywhere."""
    _check(interval, checkpoint, restart, mtbf)
    return mtbf * math.exp(restart / mtbf) * math.expm1((interval + checkpoint) / mtbf)


def exact_waste_fraction(interval: float, checkpoint: float, restart: float, mtbf: float) -> float:
    """1 - T / :func:`expected_time_per_interval`: the waste of the exponential model, no approximation."""
    return 1.0 - interval / expected_time_per_interval(interval, checkpoint, restart, mtbf)


def exact_optimum(checkpoint: float, restart: float, mtbf: float) -> float:
    """The T minimising :func:`exact_waste_fraction` (bounded scalar search, scipy)."""
    positive_number("checkpoint cost C (s)", checkpoint)
    nonneg_number("restart cost R (s)", restart)
    positive_number("job MTBF M (s)", mtbf)
    from scipy.optimize import minimize_scalar  # only when it runs: the CLI and the widgets start without scipy

    hi = 20 * max(mtbf, daly_interval(checkpoint, mtbf))
    res = minimize_scalar(lambda t: exact_waste_fraction(t, checkpoint, restart, mtbf),
                          bounds=(1e-9 * hi, hi), method="bounded", options={"xatol": 1e-9 * hi})
    return float(res.x)
