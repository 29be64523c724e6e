"""Interop with ``torch.distributed.pipelining``: its action lists to our IR and back.

torch describes a schedule as ``pipeline_order: dict[rank, list[_Action | None]]`` where
``_Action(stage_index, computation_type, microbatch_index)``; ``None`` is an idle time step, and
besides compute it lists bookkeeping (``REDUCE_GRAD``, ``UNSHARD``, ``SEND_F``, ...). Its letters
differ from ours (Zero Bubble, Qi et al. ICLR'24): torch "B" (FULL_BACKWARD) = our BW, torch
"I" (BACKWARD_INPUT) = our B; F and W agree. ``OVERLAP_F_B`` (DualPipeV) is flattened into its
sub-actions.

:func:`torch_pipeline_order` builds a torch schedule class's ``pipeline_order`` for (p, m, v)
without a process group or stages: it sets the few attributes the class's own order builder
reads and calls it (private torch API, checked against torch 2.13).
"""

from __future__ import annotations

from typing import Any

from mlsys_kit.checks import positive_int
from mlsys_kit.pipeline.schedule import FROM_TORCH_KIND, TORCH_KIND, Action, Schedule

TORCH_SCHEDULES = ("ScheduleGPipe", "Schedule1F1B", "ScheduleLoopedBFS", "ScheduleInterleaved1F1B",
                   "ScheduleInterleavedZeroBubble", "ScheduleZBVZeroBubble", "ScheduleDualPipeV")


def to_torch(schedule: Schedule) -> dict[int, list[Any]]:
    """Our schedule as torch's ``pipeline_order`` (compute actions only, no idle steps)."""
    from torch.distributed.pipelining.schedules import _Action, _ComputationType

    if not isinstance(schedule, Schedule):
        raise ValueError(f"to_torch needs a Schedule: got {type(schedule).__name__}")
    return {r: [_Action(a.stage, _ComputationType(TORCH_KIND[a.kind]), a.microbatch) for a in acts]
            for r, acts in enumerate(schedule.ranks)}


def from_torch(pipeline_order: dict[int, list[Any]], num_microbatches: int | None = None,
               name: str = "torch") -> Schedule:
    """torch's ``pipeline_order`` as our Schedule; placement is read off which rank lists each stage."""
    if not isinstance(pipeline_order, dict) or not pipeline_order:
        raise ValueError("pipeline_order must be a non-empty dict rank -> list of torch _Action")
    ranks: list[list[Action]] = [[] for _ in range(max(pipeline_order) + 1)]
    placement: dict[int, int] = {}

    def add(rank: int, act: Any) -> None:
        if act.sub_actions:
            for sub in act.sub_actions:
                add(rank, sub)
            return
        kind = FROM_TORCH_KIND.get(act.computation_type.value)
        if kind is None or act.microbatch_index is None:
            return  # communication / sharding / grad-reduction bookkeeping
        if placement.setdefault(act.stage_index, rank) != rank:
            raise ValueError(f"stage {act.stage_index} is listed on ranks {placement[act.stage_index]} and {rank}")
        ranks[rank].append(Action(kind, act.microbatch_index, act.stage_index))

    for rank in sorted(pipeline_order):
        for act in pipeline_order[rank]:
            if act is not None:
                add(rank, act)
    num_stages = max(placement) + 1
    missing = [s for s in range(num_stages) if s not in placement]
    if missing:
        raise ValueError(f"pipeline_order never runs stage(s) {missing}")
    m = num_microbatches or 1 + max(a.microbatch for acts in ranks for a in acts)
    return Schedule(ranks, tuple(placement[s] for s in range(num_stages)), m, name)


def torch_pipeline_order(cls_name: str, p: int, m: int, v: int = 2) -> dict[int, list[Any]]:
    """``pipeline_order`` of torch's schedule class ``cls_name`` for p ranks, m microbatches, v stages per rank."""
    from torch.distributed.pipelining import schedules as ts

    if cls_name not in TORCH_SCHEDULES:
        raise ValueError(f"torch schedule must be one of {', '.join(TORCH_SCHEDULES)}: got {cls_name!r}")
    positive_int("p (ranks)", p)
    positive_int("m (microbatches)", m)
    positive_int("v (stages per rank)", v)
    cls = getattr(ts, cls_name)
    sched = cls.__new__(cls)  # no process group, no stages: set what the order builder reads
    sched._n_microbatches = m
    sched.pp_group_size = p
    if cls_name in ("ScheduleGPipe", "Schedule1F1B"):
        sched._num_stages = p
        return sched._get_pipeline_order()
    if cls_name in ("ScheduleZBVZeroBubble", "ScheduleDualPipeV"):
        v = 2
    if cls_name == "ScheduleDualPipeV" and m < 2 * p:
        raise ValueError(f"ScheduleDualPipeV needs at least as many microbatches as stages (2p): got m={m}, p={p}")
    sched.n_local_stages = v
    sched._stages = [None] * v
    sched.num_stages = p * v
    sched.number_of_rounds = max(1, m // p)
    sched.microbatches_per_round = m // sched.number_of_rounds
    if cls_name in ("ScheduleInterleaved1F1B", "ScheduleInterleavedZeroBubble") and m % sched.number_of_rounds:
        raise ValueError(f"{cls_name} needs m to be a multiple of max(1, m // p): got m={m}, p={p}")
    sched.pipeline_order = {r: sched._calculate_single_rank_operations(r) for r in range(p)}
    if cls_name == "ScheduleInterleavedZeroBubble":
        sched.pipeline_order = sched._add_bubbles_to_actions(p * v)
    return sched.pipeline_order
