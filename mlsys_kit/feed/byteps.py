"""BytePS's communication analysis (Jiang et al., "A Unified Architecture for Accelerating
Distributed DNN Training in Heterogeneous GPU/CPU Clusters", OSDI'20, section 3).

``n`` GPU machines each hold an ``M``-byte gradient; ``k`` spare CPU machines may help sum it;
every NIC moves ``B`` bytes/s each way (full duplex). Summation of the ``M`` bytes is split
among "summation services": ``x`` bytes on each CPU machine and ``y`` on each GPU machine
(``k x + n y = M``). A CPU machine receives ``n x`` and sends ``n x``; a GPU machine pushes the
``M - y`` bytes it does not sum itself and pulls them back, and for its own ``y`` receives
``(n-1) y`` and sends ``(n-1) y``: ``M + (n-2) y`` each way. The step takes the busiest NIC's time:

    t(x, y) = max(M + (n - 2) y, n x) / B

* all-reduce (ring), the case ``k = 0``: ``y = M / n``, ``t = 2 (n-1) M / (n B)``;
* parameter server on ``k`` CPU machines: ``y = 0``, ``x = M / k``, ``t = max(M, n M / k) / B``
  (``k = n``: ``M / B``);
* BytePS (section 3.2): the split that equalises both sides, ``y = (n-k) M / (n^2 + k n - 2k)``
  for ``k < n``, giving ``t = 2 n (n-1) M / ((n^2 + k n - 2k) B)``; for ``k >= n`` it is the PS
  split with ``t = M / B``. All-reduce (``k = 0``) and PS (``k = n``) are its special cases.

Optimality (section 3.2): :func:`lower_bound` solves the placement as a linear programme
(scipy's HiGHS, ``linprog``) over every ``(x, y)`` with ``k x + n y = M``; BytePS's closed form
equals its optimum for every ``n`` and ``k`` (tested).
"""

from __future__ import annotations

from typing import Any

from mlsys_kit.checks import nonneg_int, positive_int, positive_number


def _check(n: int, k: int, model_bytes: float, bandwidth: float) -> None:
    if positive_int("gpus", n) < 2:
        raise ValueError(f"gpus must be at least 2 machines to communicate: got {n}")
    nonneg_int("cpus", k)
    positive_number("model_bytes", model_bytes)
    positive_number("bandwidth", bandwidth)


def allreduce_time(n: int, model_bytes: float, bandwidth: float) -> float:
    """Ring all-reduce among the ``n`` GPU machines: 2(n-1)/n * M / B."""
    _check(n, 0, model_bytes, bandwidth)
    return 2 * (n - 1) / n * model_bytes / bandwidth


def ps_time(n: int, k: int, model_bytes: float, bandwidth: float) -> float:
    """A parameter server on ``k`` CPU machines (each sums M / k): max(M, n M / k) / B."""
    _check(n, k, model_bytes, bandwidth)
    if k == 0:
        raise ValueError("cpus must be at least 1 for a parameter server on CPU machines: got 0")
    return max(model_bytes, n * model_bytes / k) / bandwidth


def byteps_split(n: int, k: int, model_bytes: float) -> tuple[float, float]:
    """BytePS's optimal bytes summed per CPU machine ``x`` and per GPU machine ``y`` (section 3.2)."""
    _check(n, k, model_bytes, 1.0)
    if k >= n:
        return model_bytes / k, 0.0
    y = (n - k) * model_bytes / (n * n + k * n - 2 * k)
    return ((model_bytes - n * y) / k if k else 0.0), y


def byteps_time(n: int, k: int, model_bytes: float, bandwidth: float) -> float:
    """BytePS's communication time: 2 n (n-1) M / ((n^2 + k n - 2k) B) for k < n, M / B for k >= n."""
    _check(n, k, model_bytes, bandwidth)
    x, y = byteps_split(n, k, model_bytes)
    return max(model_bytes + (n - 2) * y, n * x) / bandwidth


def lower_bound(n: int, k: int, model_bytes: float, bandwidth: float) -> dict[str, float]:
    """The least busiest-NIC time over every split (an LP: minimise t subject to
    M + (n-2) y <= B t, n x <= B t, k x + n y = M, x, y >= 0), solved by scipy's HiGHS."""
    from scipy.optimize import linprog

    _check(n, k, model_bytes, bandwidth)
    m = model_bytes
    # variables (x, y, t) in units of M and M / B, so the LP is well scaled
    res = linprog(c=[0, 0, 1], A_ub=[[0, n - 2, -1], [n, 0, -1]], b_ub=[-1, 0], A_eq=[[k, n, 0]], b_eq=[1],
                  bounds=[(0, None), (0, None), (0, None)], method="highs")
    if res.status != 0:
        raise ValueError(f"the placement LP failed for gpus={n}, cpus={k}: {res.message}")
    x, y, t = res.x
    return {"time": t * m / bandwidth, "x": x * m, "y": y * m}


def compare(n: int, k: int, model_bytes: float, bandwidth: float) -> dict[str, Any]:
    """All three architectures on the same machines: times, BytePS's split and its speedups."""
    _check(n, k, model_bytes, bandwidth)
    ar, bp = allreduce_time(n, model_bytes, bandwidth), byteps_time(n, k, model_bytes, bandwidth)
    ps = ps_time(n, k, model_bytes, bandwidth) if k else None
    x, y = byteps_split(n, k, model_bytes)
    return {"gpus": n, "cpus": k, "model_bytes": model_bytes, "bandwidth": bandwidth,
            "allreduce_time": ar, "ps_time": ps, "byteps_time": bp,
            "byteps_cpu_bytes": x, "byteps_gpu_bytes": y,
            "lower_bound_time": lower_bound(n, k, model_bytes, bandwidth)["time"],
            "speedup_over_allreduce": ar / bp, "speedup_over_ps": ps / bp if ps else None}
