"""The 3D-parallel planner: the fastest (t, p, d, b, v, ZeRO stage, recomputation, SP) that fits.

Two searches, both on the cost model of :mod:`mlsys_kit.parallel.model`:

* **Exhaustive** (:func:`plan`), for models whose layers are alike (every preset): every
  plan the cluster and the batch allow is checked for memory; the ones that fit are ranked by
  step time (the pipeline part from the simulator, cached per (p, m, v)). The answer lists the top plans with their memory and time
  breakdowns, why each other plan lost (counts and examples), and the best time per (t, p).
  This is the search Megatron-LM's section 3 does by hand (Narayanan et al., SC'21).
* **Two-level** (:func:`partition_stages`), Alpa-style (Zheng et al., OSDI'22, section 5.2,
  equations 2 and 3) for layers that differ: the outer dynamic program cuts the layers into
  p contiguous stages minimising ``sum(stage times) + (m - 1) * max(stage time)``, enumerating
  the bottleneck ``t_max``; the inner choice picks, per stage, the cheapest intra-stage option
  (here: the recomputation mode) whose memory fits that stage, given how many microbatches the
  1F1B schedule keeps in flight on it (from the simulator: stage s holds p - s). Exact for the
  options given (the tests compare it with brute force over all partitions).
"""

from __future__ import annotations

import functools
import itertools
import time
from collections import Counter
from typing import Any, Sequence

from mlsys_kit.checks import positive_int
from mlsys_kit.models.costs import TransformerConfig
from mlsys_kit.parallel.model import RECOMPUTE, Cluster, Plan, check_plan, evaluate
from mlsys_kit.pipeline.generators import make_schedule
from mlsys_kit.pipeline.simulate import simulate

KEYS = ("tensor", "pipeline", "data", "microbatch", "zero_stage", "recompute", "step_time", "memory_bytes", "mfu", "fits")


def _divisors(n: int) -> list[int]:
    return [k for k in range(1, n + 1) if n % k == 0]


def candidates(cfg: TransformerConfig, cluster: Cluster, global_batch: int, microbatches: Sequence[int] = (1, 2, 4, 8),
               interleaves: Sequence[int] = (1, 2, 4), zero_stages: Sequence[int] = (0, 1, 2, 3),
               recomputes: Sequence[str] = RECOMPUTE, sequence_parallel: Sequence[bool] = (False, True)
               ) -> tuple[list[Plan], Counter]:
    """Every plan of the search space that can run, and why the others cannot (counts)."""
    plans, invalid = _candidates(cfg, Cluster(cluster.devices, cluster.devices_per_node, cluster.device), global_batch,
                                 tuple(microbatches), tuple(interleaves), tuple(zero_stages), tuple(recomputes),
                                 tuple(sequence_parallel))
    return list(plans), Counter(dict(invalid))


@functools.lru_cache(maxsize=256)
def _candidates(cfg: TransformerConfig, cluster: Cluster, global_batch: int, microbatches: tuple, interleaves: tuple,
                zero_stages: tuple, recomputes: tuple, sequence_parallel: tuple) -> tuple[tuple, tuple]:
    plans, invalid = [], Counter()
    n = cluster.devices
    for t, p in itertools.product(_divisors(n), _divisors(n)):
        if n % (t * p):
            continue
        for b, v, z, r, sp in itertools.product(microbatches, interleaves, zero_stages, recomputes, sequence_parallel):
            plan = Plan(t, p, n // (t * p), b, v, z, r, sp)
            try:
                check_plan(cfg, cluster, plan, global_batch)
            except ValueError as exc:
                invalid[str(exc).split(":")[0]] += 1
                continue
            plans.append(plan)
    return tuple(plans), tuple(invalid.items())


def _short(r: dict) -> str:
    return (f"t={r['tensor']} p={r['pipeline']} d={r['data']} b={r['microbatch']} v={r['interleave']} "
            f"ZeRO-{r['zero_stage']} recompute={r['recompute']}{' SP' if r['sequence_parallel'] else ''}")


def _why_slower(r: dict, best: dict) -> str:
    worst = max(r["time"], key=lambda k: r["time"][k] - best["time"].get(k, 0.0))
    extra = r["step_time"] / best["step_time"] - 1
    return f"{100 * extra:.1f}% slower than the best, mostly {worst.replace('_', ' ')}"


def plan(cfg: TransformerConfig, cluster: Cluster, global_batch: int, top: int = 5, examples: int = 8,
         **space: Any) -> dict[str, Any]:
    """Search the plans for ``cfg`` on ``cluster`` at ``global_batch`` sequences per step.

    Returns ``plans`` (the ``top`` fastest that fit, fastest first, each with the keys of
    :data:`KEYS`, its memory and time breakdowns and ``why_not_first``), ``lost`` (why the
    rest lost: counts per reason) with ``lost_examples``, ``heatmap`` (per "t x p": the best
    step time that fits, or None when none does) and the search's size and wall time.
    ``space`` narrows the search (see :func:`candidates`).
    """
    positive_int("top", top)
    t0 = time.perf_counter()
    plans, invalid = candidates(cfg, cluster, global_batch, **space)
    if not plans:
        raise ValueError(f"no plan can run {cfg.name} on {cluster.devices} devices at global batch {global_batch}: "
                         + "; ".join(f"{k} ({v})" for k, v in invalid.most_common(3)))
    limit = cluster.spec.memory_bytes
    rows = [evaluate(cfg, cluster, pl, global_batch, check=False) for pl in plans]
    fit = sorted((r for r in rows if r["fits"]), key=lambda r: r["step_time"])
    too_big = [r for r in rows if not r["fits"]]
    if not fit:
        smallest = min(too_big, key=lambda r: r["memory_bytes"])
        raise ValueError(f"no plan fits {cfg.name} in {limit / 1e9:.0f} GB per device on {cluster.devices} devices: "
                         f"the smallest needs {smallest['memory_bytes'] / 1e9:.1f} GB ({_short(smallest)}); "
                         "add devices or use a device with more memory")
    best = fit[0]
    lost: Counter = Counter()
    examples_out: list[dict] = []
    for r in too_big:
        part = max(r["memory"], key=r["memory"].get)
        lost[f"does not fit (mostly {part})"] += 1
        if len(examples_out) < examples // 2:
            examples_out.append({"plan": _short(r), "why": f"does not fit: {r['memory_bytes'] / 1e9:.1f} GB > "
                                                           f"{limit / 1e9:.0f} GB, mostly {part}"})
    for r in fit[top:]:
        lost["slower"] += 1
        if len(examples_out) < examples:
            examples_out.append({"plan": _short(r), "why": _why_slower(r, best)})
    for k, v in invalid.items():
        lost[f"cannot run: {k}"] += v
    heat: dict[str, Any] = {}
    for r in rows:
        key = f"{r['tensor']}x{r['pipeline']}"
        if r["fits"] and (heat.get(key) is None or r["step_time"] < heat[key]):
            heat[key] = r["step_time"]
        else:
            heat.setdefault(key, None)
    out_plans = []
    for i, r in enumerate(fit[:top]):
        row = {k: r[k] for k in KEYS}
        row.update(interleave=r["interleave"], sequence_parallel=r["sequence_parallel"], hfu=r["hfu"],
                   microbatches=r["microbatches"], bubble_fraction=r["bubble_fraction"],
                   memory=r["memory"], time=r["time"], plan=_short(r), device_memory_bytes=r["device_memory_bytes"],
                   why_not_first=None if i == 0 else _why_slower(r, best))
        out_plans.append(row)
    return {"model": cfg.name, "devices": cluster.devices, "devices_per_node": cluster.devices_per_node,
            "device": cluster.device, "global_batch": global_batch, "search": "exhaustive",
            "searched": len(plans) + sum(invalid.values()), "valid": len(plans), "fit": len(fit),
            "plans": out_plans, "lost": dict(lost.most_common()), "lost_examples": examples_out,
            "heatmap": heat, "planner_seconds": time.perf_counter() - t0}


# -- Alpa-style two-level search over layers that differ ------------------------------------

def partition_stages(times: Sequence[Sequence[float]], memory: Sequence[Sequence[float]], p: int, m: int,
                     memory_limit: float, in_flight: Sequence[float] | None = None) -> dict[str, Any]:
    """Cut layers into ``p`` contiguous stages and pick one option per stage (Alpa, OSDI'22
    section 5.2): minimise ``sum_s T_s + (m - 1) max_s T_s`` where ``T_s`` is the sum over the
    stage's layers of ``times[layer][option]``, subject to, for every stage s,
    ``in_flight[s] * sum(memory[layer][option]) <= memory_limit``.

    ``times[i][o]``/``memory[i][o]``: layer i's time per microbatch and activation bytes per
    microbatch under intra-stage option o. ``in_flight[s]`` defaults to 1F1B's ``p - s``
    microbatches on stage s, from the simulator. Returns ``stages`` (list of (first layer,
    last layer + 1, option)), ``objective``, ``t_max``; raises ValueError if nothing fits.
    """
    L = len(times)
    positive_int("p (stages)", p)
    positive_int("m (microbatches)", m)
    if L < p:
        raise ValueError(f"{L} layers cannot fill p={p} stages")
    if len(memory) != L or any(len(tr) != len(mr) or not tr for tr, mr in zip(times, memory)):
        raise ValueError("times and memory must be lists of equal length (one per layer) of equal-length option lists")
    if in_flight is None:
        in_flight = _in_flight(p, m)
    O = len(times[0])
    pre_t = [[0.0] * (L + 1) for _ in range(O)]
    pre_m = [[0.0] * (L + 1) for _ in range(O)]
    for o in range(O):
        for i in range(L):
            pre_t[o][i + 1] = pre_t[o][i] + times[i][o]
            pre_m[o][i + 1] = pre_m[o][i] + memory[i][o]

    def stage_best(i: int, j: int, s: int) -> tuple[float, int]:
        """The fastest option for layers [i, j) as stage s that fits (inf if none)."""
        best = (float("inf"), -1)
        for o in range(O):
            if in_flight[s] * (pre_m[o][j] - pre_m[o][i]) <= memory_limit:
                best = min(best, (pre_t[o][j] - pre_t[o][i], o))
        return best

    cost = {(i, j, s): stage_best(i, j, s) for s in range(p) for i in range(L) for j in range(i + 1, L + 1)}
    candidates_t = sorted({c[0] for c in cost.values() if c[0] < float("inf")})
    best: tuple[float, float, list] | None = None
    for t_max in candidates_t:
        if best is not None and (m - 1) * t_max >= best[0]:
            break  # Alpa's early stop: the (m - 1) t_max term alone is already worse
        # f[s][j]: least sum of stage times putting layers [0, j) into stages 0..s-1, each <= t_max
        INF = float("inf")
        f = [[INF] * (L + 1) for _ in range(p + 1)]
        arg: dict[tuple[int, int], tuple[int, int]] = {}
        f[0][0] = 0.0
        for s in range(p):
            for i in range(L):
                if f[s][i] == INF:
                    continue
                for j in range(i + 1, L - (p - s - 1) + 1):
                    c, o = cost[(i, j, s)]
                    if c <= t_max and f[s][i] + c < f[s + 1][j]:
                        f[s + 1][j] = f[s][i] + c
                        arg[(s + 1, j)] = (i, o)
        if f[p][L] == INF:
            continue
        objective = f[p][L] + (m - 1) * t_max
        if best is None or objective < best[0]:
            stages, j = [], L
            for s in range(p, 0, -1):
                i, o = arg[(s, j)]
                stages.append((i, j, o))
                j = i
            best = (objective, t_max, stages[::-1])
    if best is None:
        raise ValueError(f"no partition of {L} layers into {p} stages fits {memory_limit:.3g} bytes per stage")
    stages = best[2]
    real_max = max(pre_t[o][j] - pre_t[o][i] for i, j, o in stages)
    real_sum = sum(pre_t[o][j] - pre_t[o][i] for i, j, o in stages)
    return {"stages": stages, "objective": real_sum + (m - 1) * real_max, "t_max": real_max}


def _in_flight(p: int, m: int) -> list[float]:
    """Microbatches whose activations each stage of a 1F1B pipeline holds at its peak (the
    simulator's ``peak_activations``; p - s for stage s)."""
    if p == 1:
        return [1.0]
    r = simulate(make_schedule("1f1b", p, max(m, p)), 1.0, 2.0, 0.0, check=False)
    return list(r.peak_activations)


def brute_force_partition(times: Sequence[Sequence[float]], memory: Sequence[Sequence[float]], p: int, m: int,
                          memory_limit: float, in_flight: Sequence[float] | None = None) -> float:
    """The objective of :func:`partition_stages` by trying every cut and option (small inputs:
    the second implementation the tests compare with)."""
    L, O = len(times), len(times[0])
    in_flight = _in_flight(p, m) if in_flight is None else in_flight
    best = float("inf")
    for cuts in itertools.combinations(range(1, L), p - 1):
        bounds = (0, *cuts, L)
        stage_times = []
        for s in range(p):
            i, j = bounds[s], bounds[s + 1]
            ok = [sum(times[k][o] for k in range(i, j)) for o in range(O)
                  if in_flight[s] * sum(memory[k][o] for k in range(i, j)) <= memory_limit]
            if not ok:
                break
            stage_times.append(min(ok))
        else:
            best = min(best, sum(stage_times) + (m - 1) * max(stage_times))
    return best
