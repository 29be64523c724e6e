"""Event simulator for pipeline schedules: start/end of every action, bubbles and activation memory.

Each rank runs its list in order. An action starts when its rank is free and every input has
arrived: a dependency produced on another rank arrives ``latency`` after it ends (point-to-point
send), one produced on the same rank arrives at once. Costs are per kind and may differ by stage
(``t_f``, ``t_b``, ``t_w``: a number, or one per stage); a fused ``BW`` costs ``t_b + t_w``.

Metrics (Megatron-LM, Narayanan et al. SC'21, section 2.2.1, for the bubble definition):

* ``idle[r] = makespan - busy[r]``: the whole step, from 0 to the end of the last action of any rank;
* ``bubble_fraction`` = mean over ranks of ``idle / busy``, which is ``(p-1)/m`` for GPipe and
  1F1B at uniform costs and ``(p-1)/(v m)`` for interleaved 1F1B;
* ``bubble_rate`` = mean over ranks of ``idle / makespan`` (the share of the step spent idle);
* activation memory: a microbatch's activations on a stage are held from the start of its ``F``
  to the end of its last backward (``BW``, or ``W`` when split); ``activation`` is the memory one
  microbatch holds on one stage, by default ``p / num_stages`` so that one microbatch through a
  rank's whole share of the model counts 1. GPipe peaks at m on rank 0, 1F1B at p.
"""

from __future__ import annotations

import numbers
from collections import deque
from dataclasses import dataclass
from typing import Any, Sequence

from mlsys_kit.checks import nonneg_number, positive_number
from mlsys_kit.pipeline.schedule import Action, Schedule
from mlsys_kit.pipeline.validate import dependencies, provides, validate


@dataclass(frozen=True)
class Event:
    """One action as it ran (simulated or measured): on ``rank`` from ``start`` to ``end``."""

    rank: int
    action: Action
    start: float
    end: float


@dataclass
class SimResult:
    schedule: Schedule
    events: list[Event]
    makespan: float
    busy: list[float]
    idle: list[float]
    bubble_fraction: float
    bubble_rate: float
    peak_activations: list[float]
    memory: list[list[tuple[float, float]]]  # per rank: (time, activations held from then on)

    def to_dict(self) -> dict[str, Any]:
        """The JSON the CLI prints (no per-event data)."""
        s = self.schedule
        return {
            "schedule": s.name, "stages": s.num_ranks, "microbatches": s.num_microbatches, "chunks": s.chunks,
            "makespan": self.makespan, "bubble_fraction": self.bubble_fraction, "bubble_rate": self.bubble_rate,
            "idle": self.idle, "busy": self.busy, "peak_activations": self.peak_activations,
            "peak_activations_max": max(self.peak_activations), "valid": True,
        }


def _per_stage(name: str, value: float | Sequence[float], S: int, allow_zero: bool) -> list[float]:
    check = nonneg_number if allow_zero else positive_number
    if isinstance(value, numbers.Real):
        return [check(name, value)] * S
    values = list(value)
    if len(values) != S:
        raise ValueError(f"{name} must be a number or one number per stage ({S}): got {len(values)} values")
    return [check(f"{name}[{s}]", x) for s, x in enumerate(values)]


def simulate(schedule: Schedule, t_f: float | Sequence[float] = 1.0, t_b: float | Sequence[float] = 1.0,
             t_w: float | Sequence[float] = 1.0, latency: float = 0.0,
             activation: float | Sequence[float] | None = None, check: bool = True,
             costs_per_rank: bool = False) -> SimResult:
    """Simulate ``schedule``; see the module docstring for the model and the metrics.

    With ``costs_per_rank`` the costs are those of one microbatch through a rank's whole share of
    the model, split evenly over its stages (each stage costs ``t * p / num_stages``), so that
    schedules with different numbers of chunks per rank compare on the same model.

    With ``check`` (default) the schedule is validated first, so an invalid one raises
    :class:`~mlsys_kit.pipeline.validate.ScheduleError` naming the offending action.
    """
    if not isinstance(schedule, Schedule):
        raise ValueError(f"simulate needs a Schedule: got {type(schedule).__name__}")
    S, P = schedule.num_stages, schedule.num_ranks
    tf = _per_stage("t_f", t_f, S, False)
    tb = _per_stage("t_b", t_b, S, False)
    tw = _per_stage("t_w", t_w, S, True)
    lat = nonneg_number("latency", latency)
    act = _per_stage("activation", P / S if activation is None else activation, S, True)
    if check:
        validate(schedule)
    if costs_per_rank:
        tf, tb, tw = ([t * P / S for t in ts] for ts in (tf, tb, tw))
    cost = {"F": tf, "B": tb, "W": tw, "BW": [b + w for b, w in zip(tb, tw)]}
    placement = schedule.placement
    ready_at: dict[tuple[str, int, int], float] = {}
    waiting: dict[tuple[str, int, int], list[int]] = {}
    clock, ptr = [0.0] * P, [0] * P
    events: list[list[Event]] = [[] for _ in range(P)]
    queue = deque(range(P))
    while queue:
        r = queue.popleft()
        acts = schedule.ranks[r]
        while ptr[r] < len(acts):
            a = acts[ptr[r]]
            start, blocked = clock[r], None
            for dep in dependencies(a, S):
                t = ready_at.get(dep)
                if t is None:
                    blocked = dep
                    break
                start = max(start, t + (lat if placement[dep[1]] != r else 0.0))
            if blocked is not None:
                waiting.setdefault(blocked, []).append(r)
                break
            end = start + cost[a.kind][a.stage]
            events[r].append(Event(r, a, start, end))
            clock[r] = end
            ptr[r] += 1
            for key in provides(a):
                ready_at[key] = end
                queue.extend(waiting.pop(key, ()))
    if any(ptr[r] < len(schedule.ranks[r]) for r in range(P)):
        raise ValueError("schedule deadlocks; run validate(schedule) for the offending action")
    makespan = max((evs[-1].end for evs in events if evs), default=0.0)
    busy = [sum(e.end - e.start for e in evs) for evs in events]
    idle = [makespan - b for b in busy]
    bubble_fraction = sum(i / b for i, b in zip(idle, busy) if b > 0) / P
    bubble_rate = sum(idle) / (P * makespan) if makespan > 0 else 0.0
    memory, peaks = memory_curves(events, act)
    flat = [e for evs in events for e in evs]
    return SimResult(schedule, flat, makespan, busy, idle, bubble_fraction, bubble_rate, peaks, memory)


def memory_curves(events: Sequence[Sequence[Event]], activation: Sequence[float]) -> tuple[list[list[tuple[float, float]]], list[float]]:
    """Per rank, activation memory over time as (time, level) steps, and its peak.

    ``events[r]`` are rank r's events (simulated or measured); ``activation[s]`` is what one
    microbatch holds on stage s from the start of its F to the end of its BW (or W when split).
    """
    memory, peaks = [], []
    for evs in events:
        deltas = []
        for e in evs:
            a = e.action
            if a.kind == "F":
                deltas.append((e.start, activation[a.stage]))
            elif a.kind in ("BW", "W"):
                deltas.append((e.end, -activation[a.stage]))
        deltas.sort(key=lambda d: (d[0], d[1]))  # at equal times free before allocating
        level, curve, peak = 0.0, [(0.0, 0.0)], 0.0
        for t, d in deltas:
            level += d
            peak = max(peak, level)
            if curve[-1][0] == t:  # a free and an allocation at the same instant: one step, no spike
                curve[-1] = (t, level)
            else:
                curve.append((t, level))
        memory.append(curve)
        peaks.append(peak)
    return memory, peaks
