"""Gavel: heterogeneity-aware scheduling policies as linear programs over effective throughput.

Follows Narayanan et al., "Heterogeneity-Aware Cluster Scheduling Policies for Deep Learning
Workloads" (OSDI'20):

* **section 3.1, the allocation matrix.** ``X[m][j]`` is the fraction of time job ``m`` spends on
  GPU type ``j``; ``T[m][j]`` its throughput there (0 where it cannot run). The **effective
  throughput** is ``throughput(m, X) = sum_j T[m][j] * X[m][j]`` (:func:`effective_throughput`).
  A valid ``X`` has ``0 <= X <= 1``, each row summing to at most 1 (a job is in one place at a
  time) and, per type, ``sum_m X[m][j] * scale[m] <= capacity[j]`` (a job of ``scale[m]`` GPUs
  holds that many while it runs) (:func:`check_allocation`).
* **section 4.1, the policies.** Max-min fairness (LAS): ``maximize min_m throughput(m, X) /
  (w_m * throughput(m, X_equal))``, normalised by the job's throughput under an equal share of
  the cluster so that a K80-only job and a V100-loving job are compared fairly; the LAS variant
  weights each job by its attained service (less service, more weight: Tiresias' idea inside
  Gavel's LP); finish-time fairness (Themis): ``minimize max_m rho_m`` with ``rho_m = (t_m +
  remaining_m / throughput(m, X)) / (t_m + remaining_m / throughput(m, X_isolated))``, solved as a
  sequence of LPs by bisection on ``rho`` (each a feasibility LP). Every LP is solved by
  ``scipy.optimize.linprog(method="highs")``.
* **the heterogeneity-agnostic twin** (section 7.2's baseline): the same LP with every available
  type's throughput replaced by 1, i.e. fair shares of *time*, blind to which type is faster;
  its ``X`` is then evaluated with the true ``T``.
* **section 5, round-based scheduling.** ``X`` is realised by rounds: each round, jobs are taken in
  decreasing priority ``X[m][j] / rounds_received[m][j]`` (never-served pairs first) and given a
  type with room (:func:`round_assignment`).

The :class:`Gavel` policy plugs these into the simulator's interface (:mod:`mlsys_kit.cluster.core`).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from mlsys_kit.checks import one_of
from mlsys_kit.cluster.core import Allocation, Cluster, JobState

OBJECTIVES = ("max_min", "las", "ftf")


def _check_inputs(T: Sequence[Sequence[float]], scale: Sequence[int], capacity: Sequence[int]) -> np.ndarray:
    T = np.asarray(T, dtype=float)
    if T.ndim != 2 or T.shape[0] == 0 or T.shape[1] == 0:
        raise ValueError(f"T must be a non-empty jobs x types matrix: got shape {T.shape}")
    if not np.all(np.isfinite(T)) or np.any(T < 0):
        raise ValueError("T must hold finite throughputs >= 0 (0: the job cannot run on that type)")
    if np.any(T.max(axis=1) <= 0):
        raise ValueError(f"every job needs a positive throughput on some type: rows {np.where(T.max(axis=1) <= 0)[0].tolist()}")
    if len(scale) != T.shape[0] or any(isinstance(s, bool) or int(s) != s or s < 1 for s in scale):
        raise ValueError(f"scale must give one positive integer GPU count per job ({T.shape[0]}): got {list(scale)}")
    if len(capacity) != T.shape[1] or any(isinstance(c, bool) or int(c) != c or c < 0 for c in capacity):
        raise ValueError(f"capacity must give one GPU count >= 0 per type ({T.shape[1]}): got {list(capacity)}")
    fits = (T > 0) & (np.asarray(scale)[:, None] <= np.asarray(capacity)[None, :])
    if not np.all(fits.any(axis=1)):
        raise ValueError(f"jobs {np.where(~fits.any(axis=1))[0].tolist()} fit on no GPU type they can use "
                         "(each needs a type with throughput > 0 and at least its scale factor of GPUs)")
    return T


def effective_throughput(T: Sequence[Sequence[float]], X: Sequence[Sequence[float]]) -> list[float]:
    """``throughput(m, X) = sum_j T[m][j] * X[m][j]`` for every job (Gavel, section 3.1)."""
    T, X = np.asarray(T, dtype=float), np.asarray(X, dtype=float)
    if T.shape != X.shape:
        raise ValueError(f"T and X must have the same jobs x types shape: got {T.shape} and {X.shape}")
    return [float(v) for v in (T * X).sum(axis=1)]


def check_allocation(X: Sequence[Sequence[float]], scale: Sequence[int], capacity: Sequence[int],
                     tol: float = 1e-7) -> None:
    """Raise ValueError unless ``X`` is a valid allocation: entries in [0, 1], each job's
    fractions summing to <= 1, and per type ``sum_m X[m][j] * scale[m] <= capacity[j]``."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape != (len(scale), len(capacity)):
        raise ValueError(f"X must be {len(scale)} jobs x {len(capacity)} types: got shape {X.shape}")
    if np.any(X < -tol) or np.any(X > 1 + tol):
        raise ValueError("every X[m][j] must be a time fraction in [0, 1]")
    if np.any(X.sum(axis=1) > 1 + tol):
        raise ValueError(f"a job's time fractions must sum to <= 1: got {X.sum(axis=1).tolist()}")
    used = (X * np.asarray(scale, dtype=float)[:, None]).sum(axis=0)
    if np.any(used > np.asarray(capacity, dtype=float) + tol):
        raise ValueError(f"GPUs used per type {used.tolist()} exceed the capacity {list(capacity)}")


def equal_share(T: Sequence[Sequence[float]], scale: Sequence[int], capacity: Sequence[int]) -> np.ndarray:
    """``X_equal``: every job gets the same share of the whole cluster, split over the types it
    can use in proportion to their GPU counts (the normaliser of Gavel's max-min fairness,
    section 4.1). Its throughput is what a job would see in a cluster divided equally."""
    T = _check_inputs(T, scale, capacity)
    cap = np.asarray(capacity, dtype=float)
    fits = np.asarray(scale, dtype=float)[:, None] <= cap[None, :]
    usable = ((T > 0) & fits) * cap[None, :]
    share = min(1.0, cap.sum() / float(np.sum(scale)))
    X = np.zeros_like(T)
    for m in range(T.shape[0]):
        if usable[m].sum() > 0:
            X[m] = share * usable[m] / usable[m].sum()
    # the types a job cannot use may be over-subscribed by the others: scale down to fit
    used = (X * np.asarray(scale, dtype=float)[:, None]).sum(axis=0)
    over = max([1.0] + [used[j] / cap[j] for j in range(len(cap)) if cap[j] > 0 and used[j] > cap[j]])
    return X / over


def _lp_max_min(T: np.ndarray, scale: Sequence[int], capacity: Sequence[int], coef: np.ndarray,
                floor: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Maximise ``t`` subject to ``coef[m] * throughput(m, X) >= t`` (or, given ``floor``, find any
    X with ``throughput(m, X) >= floor[m]``) and the constraints of a valid allocation."""
    from scipy.optimize import linprog  # only when it runs: the CLI and the widgets start without scipy

    n, k = T.shape
    nv = n * k + 1  # X flattened row-major, then t
    A, b = [], []
    for m in range(n):  # t - coef_m * sum_j T_mj X_mj <= 0   (or -sum_j T_mj X_mj <= -floor_m)
        row = np.zeros(nv)
        row[m * k:(m + 1) * k] = -T[m] * (1.0 if floor is not None else coef[m])
        row[-1] = 0.0 if floor is not None else 1.0
        A.append(row)
        b.append(-floor[m] if floor is not None else 0.0)
    for m in range(n):  # sum_j X_mj <= 1
        row = np.zeros(nv)
        row[m * k:(m + 1) * k] = 1.0
        A.append(row)
        b.append(1.0)
    for j in range(k):  # sum_m X_mj scale_m <= capacity_j
        row = np.zeros(nv)
        for m in range(n):
            row[m * k + j] = scale[m]
        A.append(row)
        b.append(float(capacity[j]))
    bounds = [(0.0, 1.0 if T[m, j] > 0 and scale[m] <= capacity[j] else 0.0) for m in range(n) for j in range(k)]
    bounds.append((0.0, None))
    c = np.zeros(nv)
    c[-1] = -1.0 if floor is None else 0.0
    res = linprog(c, A_ub=np.array(A), b_ub=np.array(b), bounds=bounds, method="highs")
    if res.status != 0:
        return np.zeros((n, k)), -math.inf
    X = np.clip(res.x[:-1].reshape(n, k), 0.0, 1.0)
    return X, float(res.x[-1])


def max_min_allocation(T: Sequence[Sequence[float]], scale: Sequence[int], capacity: Sequence[int],
                       weights: Sequence[float] | None = None, heterogeneity_aware: bool = True) -> list[list[float]]:
    """Gavel's max-min fairness (section 4.1): ``X`` maximising ``min_m throughput(m, X) /
    (weights[m] * throughput(m, X_equal))``, solved by HiGHS. ``heterogeneity_aware=False``: the
    agnostic twin, the same LP with every usable type's throughput set to 1 (fair shares of time)."""
    T = _check_inputs(T, scale, capacity)
    w = np.ones(T.shape[0]) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (T.shape[0],) or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError(f"weights must be one positive finite number per job ({T.shape[0]}): got {weights!r}")
    Tm = T if heterogeneity_aware else (T > 0).astype(float)
    norm = np.asarray(effective_throughput(Tm, equal_share(Tm, scale, capacity)))
    coef = np.where(norm > 0, 1.0 / (w * np.where(norm > 0, norm, 1.0)), 0.0)
    X, _ = _lp_max_min(Tm, scale, capacity, coef)
    return X.tolist()


def las_weights(attained: Sequence[float]) -> list[float]:
    """Weights (priorities) for the LAS variant: ``1 / (1 + attained hours)``, so the LP gives
    the least-served jobs the larger shares (Tiresias' least attained service inside Gavel's LP)."""
    if any(not math.isfinite(a) or a < 0 for a in attained):
        raise ValueError(f"attained service must be finite GPU-seconds >= 0: got {list(attained)}")
    return [1.0 / (1.0 + a / 3600.0) for a in attained]


def finish_time_fairness_allocation(T: Sequence[Sequence[float]], scale: Sequence[int], capacity: Sequence[int],
                                    remaining: Sequence[float], elapsed: Sequence[float],
                                    heterogeneity_aware: bool = True, iters: int = 50) -> list[list[float]]:
    """Finish-time fairness (Themis, as Gavel writes it in section 4.1): ``minimize max_m rho_m``,
    ``rho_m = (elapsed_m + remaining_m / throughput(m, X)) / (elapsed_m + remaining_m /
    throughput(m, X_isolated))`` with ``X_isolated = X_equal``. ``rho <= r`` is linear in ``X``
    for a fixed ``r`` (``throughput(m, X) >= remaining_m / (r * D_m - elapsed_m)``), so ``r`` is
    found by bisection, each step a feasibility LP solved by HiGHS."""
    T = _check_inputs(T, scale, capacity)
    n = T.shape[0]
    rem, el = np.asarray(remaining, dtype=float), np.asarray(elapsed, dtype=float)
    if rem.shape != (n,) or el.shape != (n,) or np.any(rem <= 0) or np.any(el < 0) or not np.all(np.isfinite(rem + el)):
        raise ValueError("remaining (> 0) and elapsed (>= 0) must give one finite number per job")
    Tm = T if heterogeneity_aware else (T > 0).astype(float)
    iso = np.asarray(effective_throughput(Tm, equal_share(Tm, scale, capacity)))
    D = el + rem / np.where(iso > 0, iso, np.inf)

    def feasible(r: float) -> np.ndarray | None:
        floor = rem / np.maximum(r * D - el, 1e-300)
        X, t = _lp_max_min(Tm, scale, capacity, np.zeros(n), floor=floor)
        return X if t > -math.inf else None

    lo, hi = 0.0, 1.0
    while feasible(hi) is None:  # X_equal itself reaches rho = 1; contention may need more
        lo, hi = hi, hi * 2
        if hi > 1e9:
            raise ValueError("no allocation gives every job a positive throughput")
    for _ in range(iters):
        mid = (lo + hi) / 2
        if feasible(mid) is None:
            lo = mid
        else:
            hi = mid
    return feasible(hi).tolist()


def round_assignment(X: Sequence[Sequence[float]], received: Sequence[Sequence[float]], scale: Sequence[int],
                     capacity: Sequence[int]) -> dict[int, int]:
    """One scheduling round (Gavel, section 5): priority ``X[m][j] / received[m][j]`` (a pair
    never served yet, with ``X > 0``, comes first), highest first, ties by job then type; each job
    gets at most one type, a type only while it has ``scale[m]`` GPUs free. Returns ``{job: type}``."""
    X = np.asarray(X, dtype=float)
    R = np.asarray(received, dtype=float)
    if X.shape != R.shape or X.shape != (len(scale), len(capacity)):
        raise ValueError(f"X and received must both be {len(scale)} jobs x {len(capacity)} types")
    pairs = []
    for m in range(X.shape[0]):
        for j in range(X.shape[1]):
            if X[m, j] > 1e-9:
                prio = math.inf if R[m, j] <= 0 else X[m, j] / R[m, j]
                pairs.append((-prio, -X[m, j], m, j))
    free = [int(c) for c in capacity]
    out: dict[int, int] = {}
    for _, _, m, j in sorted(pairs):
        if m not in out and free[j] >= scale[m]:
            out[m] = j
            free[j] -= scale[m]
    return out


class Gavel:
    """The round-based Gavel policy: at each call, solve the chosen LP over the jobs present
    (``objective`` in ``max_min``, ``las``, ``ftf``), then realise ``X`` with
    :func:`round_assignment`, from each job's rounds per type in ``JobState.rounds``. The LP is
    solved again only when the set of jobs changes (an arrival or a completion), as in section 5."""

    round_based = True

    def __init__(self, objective: str = "max_min", heterogeneity_aware: bool = True) -> None:
        self.objective = one_of("objective", objective, OBJECTIVES)
        if not isinstance(heterogeneity_aware, bool):
            raise ValueError(f"heterogeneity_aware must be True or False: got {heterogeneity_aware!r}")
        self.heterogeneity_aware = heterogeneity_aware
        self.name = f"gavel-{objective}" + ("" if heterogeneity_aware else "-agnostic")
        self._cache: tuple[tuple, list[list[float]]] | None = None

    def allocation(self, jobs: Sequence[JobState], cluster: Cluster, now: float = 0.0) -> list[list[float]]:
        """The LP's ``X`` for ``jobs`` on ``cluster`` (rows: jobs in order; columns: ``cluster.gpu_types``)."""
        types = cluster.gpu_types
        cap = [cluster.gpus_per_type()[t] for t in types]
        T = [[s.job.throughput.get(t, 0.0) for t in types] for s in jobs]
        scale = [min(s.job.gpus, max(cap)) for s in jobs]
        if self.objective == "ftf":
            return finish_time_fairness_allocation(T, scale, cap, [max(s.remaining_iterations, 1e-9) for s in jobs],
                                                   [max(now - s.job.arrival, 0.0) for s in jobs], self.heterogeneity_aware)
        w = las_weights([s.attained_service for s in jobs]) if self.objective == "las" else None
        return max_min_allocation(T, scale, cap, w, self.heterogeneity_aware)

    def schedule(self, now: float, jobs: Sequence[JobState], cluster: Cluster) -> dict[int, Allocation]:
        runnable = [s for s in jobs if s.job.gpus <= max(cluster.gpus_per_type().get(t, 0) for t in s.job.throughput)]
        if not runnable:
            return {}
        types = cluster.gpu_types
        key = (tuple(s.id for s in runnable), types)
        if self._cache is None or self._cache[0] != key:  # section 5: recomputed when jobs arrive or leave
            self._cache = (key, self.allocation(runnable, cluster, now))
        X = self._cache[1]
        received = [[float(s.rounds.get(t, 0)) for t in types] for s in runnable]
        cap = [cluster.gpus_per_type()[t] for t in types]
        pick = round_assignment(X, received, [s.job.gpus for s in runnable], cap)
        out = {}
        for m, j in pick.items():
            s = runnable[m]
            cur = s.running_on
            keep = cur is not None and cur.gpu_type == types[j] and cur.gpus == s.job.gpus
            out[s.id] = cur if keep else Allocation(types[j], s.job.gpus)
        return out


def gavel(objective: str = "max_min", heterogeneity_aware: bool = True) -> Gavel:
    """The factory the registry calls: ``gavel("las", heterogeneity_aware=False)``."""
    return Gavel(objective, heterogeneity_aware)
