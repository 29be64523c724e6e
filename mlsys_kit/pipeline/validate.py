"""Schedule validator: is this list of per-rank actions a correct pipeline schedule?

The dependencies are those of back-propagation through consecutive stages (GPipe, Huang et al.
NeurIPS'19 section 2; Zero Bubble, Qi et al. ICLR'24 section 2 for the B/W split):

* ``F`` of microbatch i on stage s needs ``F`` of i on stage s-1 (its input activation);
* ``B``/``BW`` of i on stage s needs ``F`` of i on stage s (its saved activations) and ``B``/``BW``
  of i on stage s+1 (its output gradient);
* ``W`` of i on stage s needs ``B`` of i on stage s.

Execution model for the deadlock check: each rank runs its list strictly in order; before an
action it blocks in ``recv`` until every input from another rank has arrived; after it, it posts
its sends without waiting (``isend``, as :mod:`torch.distributed.pipelining` and our runtime do).
A schedule deadlocks when, at some point, every unfinished rank is blocked on a message that the
sending rank will only produce later in its own list. With ``blocking_send=True`` sends block too
(rendezvous: a send completes only once the receiver has reached the action that receives it, as
with a plain blocking ``send`` and no buffering); then naive 1F1B deadlocks, which is why Megatron
pairs each send with the next receive (``send_forward_recv_backward``) and torch uses ``isend``.

:func:`validate` checks, in this order: actions well-formed and on the rank that holds their
stage; every action exactly once; within a rank, nothing runs before a dependency that the same
rank produces later; no deadlock. The error (:class:`ScheduleError`) names the first offending
action, its rank and step, and what it waits for.
"""

from __future__ import annotations

from mlsys_kit.pipeline.schedule import Action, Schedule

Key = tuple[str, int, int]  # ("F" | "B" | "W", stage, microbatch): what an action makes available


class ScheduleError(ValueError):
    """An invalid schedule; ``rank``, ``step``, ``action`` and ``waits_for`` locate the problem."""

    def __init__(self, message: str, rank: int | None = None, step: int | None = None,
                 action: Action | None = None, waits_for: str | None = None) -> None:
        super().__init__(message)
        self.rank, self.step, self.action, self.waits_for = rank, step, action, waits_for


def provides(action: Action) -> list[Key]:
    """What finishing ``action`` makes available: F -> F; B -> B; W -> W; BW -> B and W."""
    if action.kind == "BW":
        return [("B", action.stage, action.microbatch), ("W", action.stage, action.microbatch)]
    return [(action.kind, action.stage, action.microbatch)]


def dependencies(action: Action, num_stages: int) -> list[Key]:
    """The keys ``action`` must wait for (see the module docstring)."""
    s, i = action.stage, action.microbatch
    if action.kind == "F":
        return [("F", s - 1, i)] if s > 0 else []
    if action.kind in ("B", "BW"):
        return [("F", s, i)] + ([("B", s + 1, i)] if s + 1 < num_stages else [])
    return [("B", s, i)]  # W


def describe(key: Key, where: dict[Key, tuple[int, int]], actions: dict[tuple[int, int], Action]) -> str:
    """``"BW2@s1 (rank 1, step 5)"``: the action that provides ``key`` and where it is listed."""
    kind, s, i = key
    if key not in where:
        return f"{kind}{i}@s{s} (not in the schedule)"
    r, step = where[key]
    return f"{actions[(r, step)]} (rank {r}, step {step})"


def validate(schedule: Schedule, blocking_send: bool = False) -> None:
    """Raise :class:`ScheduleError` if ``schedule`` is not a correct, deadlock-free schedule.

    ``blocking_send``: check for deadlock with rendezvous sends too (see the module docstring).
    """
    if not isinstance(schedule, Schedule):
        raise ValueError(f"validate needs a Schedule: got {type(schedule).__name__}")
    S, m = schedule.num_stages, schedule.num_microbatches
    where: dict[Key, tuple[int, int]] = {}
    at: dict[tuple[int, int], Action] = {}
    backward_kind: dict[tuple[int, int], tuple[str, int, int]] = {}  # (stage, mb) -> (kind, rank, step)
    for r, i, a in schedule.actions():
        at[(r, i)] = a
        if a.stage >= S or a.microbatch >= m:
            raise ScheduleError(f"rank {r} step {i}: {a} is out of range: stages are 0..{S - 1}, "
                                f"microbatches 0..{m - 1}", r, i, a)
        if schedule.placement[a.stage] != r:
            raise ScheduleError(f"rank {r} step {i}: {a} is on stage {a.stage}, which is placed on rank "
                                f"{schedule.placement[a.stage]}, not rank {r}", r, i, a)
        if a.kind != "F":
            prev = backward_kind.setdefault((a.stage, a.microbatch), (a.kind, r, i))
            if (prev[0] == "BW") != (a.kind == "BW"):
                raise ScheduleError(f"rank {r} step {i}: {a} mixes the fused backward BW with split B/W for "
                                    f"microbatch {a.microbatch} on stage {a.stage} (other one at rank {prev[1]} "
                                    f"step {prev[2]}); use either BW, or B and W", r, i, a)
        for key in provides(a):
            if key in where:
                r0, i0 = where[key]
                raise ScheduleError(f"rank {r} step {i}: {a} runs twice (first at rank {r0} step {i0}); "
                                    "every action must appear exactly once", r, i, a)
            where[key] = (r, i)
    for s in range(S):
        for i in range(m):
            for key, what in ((("F", s, i), f"F{i}@s{s}"), (("B", s, i), f"BW{i}@s{s} (or B{i}@s{s} and W{i}@s{s})"),
                              (("W", s, i), f"W{i}@s{s}")):
                if key not in where:
                    r = schedule.placement[s]
                    raise ScheduleError(f"missing action: {what} never runs; stage {s} lives on rank {r}",
                                        r, None, None, what)
    # Within one rank, a dependency the rank itself produces must come earlier in its list.
    for r, i, a in schedule.actions():
        for dep in dependencies(a, S):
            dr, di = where[dep]
            if dr == r and di > i:
                raise ScheduleError(f"rank {r} step {i}: {a} runs before {at[(dr, di)]} at step {di} of the "
                                    "same rank, which it depends on", r, i, a, str(at[(dr, di)]))
    if blocking_send:
        _check_rendezvous(schedule, where, at)
    else:
        _check_deadlock(schedule, where, at)


def _check_deadlock(schedule: Schedule, where: dict[Key, tuple[int, int]], at: dict[tuple[int, int], Action]) -> None:
    """Run all ranks in lock-step rounds; if a round makes no progress, report the wait cycle."""
    S = schedule.num_stages
    done: set[Key] = set()
    ptr = [0] * schedule.num_ranks
    while True:
        finished: list[Key] = []
        for r, acts in enumerate(schedule.ranks):
            if ptr[r] < len(acts) and all(d in done for d in dependencies(acts[ptr[r]], S)):
                finished += provides(acts[ptr[r]])
                ptr[r] += 1
        if not finished:
            break
        done.update(finished)
    stuck = [r for r in range(schedule.num_ranks) if ptr[r] < len(schedule.ranks[r])]
    if not stuck:
        return
    # Follow who-waits-for-whom from the lowest stuck rank until a rank repeats: that is the cycle.
    chain, r = [], stuck[0]
    while r not in [c[0] for c in chain]:
        a = schedule.ranks[r][ptr[r]]
        dep = next(d for d in dependencies(a, S) if d not in done)
        chain.append((r, ptr[r], a, dep))
        r = where[dep][0]
    start = [c[0] for c in chain].index(r)
    cycle = chain[start:]
    parts = [f"rank {cr} is stuck at step {ci} on {ca}, waiting for {describe(cd, where, at)}"
             for cr, ci, ca, cd in cycle]
    r0, i0, a0, d0 = cycle[0]
    raise ScheduleError("deadlock under blocking recv: " + "; ".join(parts), r0, i0, a0, describe(d0, where, at))


def _check_rendezvous(schedule: Schedule, where: dict[Key, tuple[int, int]], at: dict[tuple[int, int], Action]) -> None:
    """Lock-step rounds where a rank that produced a message for another rank waits, before its next
    action, until that rank's next action is the one that receives it."""
    S, P, place = schedule.num_stages, schedule.num_ranks, schedule.placement
    done: set[Key] = set()  # produced, and delivered if it crossed ranks
    ptr = [0] * P
    sending: list[tuple[Key, int, Action] | None] = [None] * P  # (message, destination rank, consumer)

    def consumer(a: Action) -> tuple[Key, Action] | None:
        s, i = a.stage, a.microbatch
        if a.kind == "F" and s + 1 < S:
            return ("F", s, i), at[where[("F", s + 1, i)]]
        if a.kind in ("B", "BW") and s > 0:
            return ("B", s, i), at[where[("B", s - 1, i)]]
        return None

    while True:
        progress = False
        heads = [schedule.ranks[r][ptr[r]] if ptr[r] < len(schedule.ranks[r]) and sending[r] is None else None
                 for r in range(P)]
        for r in range(P):
            if sending[r] is not None:
                key, dst, cons = sending[r]
                if heads[dst] == cons:  # the receiver is at the matching receive: both proceed
                    done.add(key)
                    sending[r], progress = None, True
            elif heads[r] is not None and all(d in done for d in dependencies(heads[r], S)):
                a = heads[r]
                ptr[r] += 1
                progress = True
                out = consumer(a)
                for key in provides(a):
                    if out is None or key != out[0] or place[out[1].stage] == r:
                        done.add(key)
                if out is not None and place[out[1].stage] != r:
                    sending[r] = (out[0], place[out[1].stage], out[1])
        if not progress:
            break
    stuck = [r for r in range(P) if sending[r] is not None or ptr[r] < len(schedule.ranks[r])]
    if not stuck:
        return
    parts = []
    for r in stuck:
        if sending[r] is not None:
            key, dst, cons = sending[r]
            parts.append(f"rank {r} is blocked at step {ptr[r] - 1} in the send of {schedule.ranks[r][ptr[r] - 1]}'s "
                         f"output to rank {dst}, which must first reach {cons}")
        else:
            a = schedule.ranks[r][ptr[r]]
            dep = next(d for d in dependencies(a, S) if d not in done)
            parts.append(f"rank {r} is stuck at step {ptr[r]} on {a}, waiting for {describe(dep, where, at)}")
    r0 = stuck[0]
    step0 = ptr[r0] - 1 if sending[r0] is not None else ptr[r0]
    raise ScheduleError("deadlock under blocking send/recv: " + "; ".join(parts), r0, step0,
                        schedule.ranks[r0][step0], parts[0].split(", ", 1)[-1])


def is_valid(schedule: Schedule, blocking_send: bool = False) -> bool:
    """True if :func:`validate` accepts ``schedule``."""
    try:
        validate(schedule, blocking_send)
    except ScheduleError:
        return False
    return True
