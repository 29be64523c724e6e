"""The trace-driven discrete-event cluster simulator (the teaching path).

Events are job arrivals, job completions and, for a round-based policy, round boundaries (Gavel,
OSDI'20, section 5: 6-minute rounds). At each event the policy (:class:`~mlsys_kit.cluster.core.Policy`)
says which jobs run until the next event and on what; the simulator then

1. pauses the jobs left out (a preemption: their GPUs are released, their progress is kept as
   from a checkpoint),
2. places the jobs started or moved (:mod:`mlsys_kit.cluster.placement`: packed on as few
   machines as possible; a gang spread wider runs at ``spread_factor``, Philly ATC'19 section 3.1),
3. charges every (re)start of a job that has run before ``restart_cost`` seconds holding its GPUs
   without progress (checkpoint restore and warm-up; Gandiva OSDI'18 and Tiresias NSDI'19 section 5
   measure seconds to tens of seconds),
4. advances time to the next event: each running job makes ``rate x time`` iterations, where
   ``rate`` is its throughput on its GPU type times the locality factor (or, for a policy with a
   ``progress_rate`` method, Pollux, what that says: it models communication itself).

A job's completion time (JCT) is ``finish - arrival``. :func:`simulate` returns every job's
final :class:`~mlsys_kit.cluster.core.JobState` and, with ``record=True``, the timeline of who ran
where (for the Gantt picture); :mod:`mlsys_kit.cluster.metrics` turns it into numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

from mlsys_kit.checks import nonneg_number, positive_number
from mlsys_kit.cluster.core import Allocation, Cluster, Job, JobState, Policy
from mlsys_kit.cluster.placement import locality_factor, min_machines, place

EPS = 1e-9


@dataclass(frozen=True)
class Segment:
    """Job ``job`` held GPUs ``machines`` (machine index per GPU) of ``gpu_type`` from ``start`` to ``end``."""

    job: int
    gpu_type: str
    machines: tuple[int, ...]
    start: float
    end: float


@dataclass
class SimResult:
    """Final job states (in the order given), the cluster, and what the run measured."""

    policy: str
    cluster: Cluster
    states: list[JobState]
    busy_gpu_seconds: float = 0.0  # GPU-seconds held by jobs (restarts included)
    n_calls: int = 0  # scheduling calls
    contention: dict[int, int] = field(default_factory=dict)  # jobs active at each job's arrival
    segments: list[Segment] = field(default_factory=list)

    @property
    def makespan(self) -> float:
        """From the first arrival to the last completion."""
        return max(s.finish for s in self.states) - min(s.job.arrival for s in self.states)


def check_jobs(jobs: Sequence[Job], cluster: Cluster) -> None:
    """ValueError unless ids are unique and every job fits on some type it can use."""
    if not jobs:
        raise ValueError("jobs must hold at least one Job")
    if len({j.id for j in jobs}) != len(jobs):
        raise ValueError("job ids must be unique")
    cap = cluster.gpus_per_type()
    for j in jobs:
        if not any(cap.get(t, 0) >= j.gpus for t in j.throughput):
            raise ValueError(f"job {j.id} asks for {j.gpus} GPUs of {sorted(j.throughput)}, but the cluster has {cap}")


def _check_allocs(allocs: dict[int, Allocation], active: dict[int, JobState], cluster: Cluster, name: str) -> None:
    used: dict[str, int] = {}
    for jid, a in allocs.items():
        if jid not in active:
            raise ValueError(f"policy {name} allocated job {jid}, which is not waiting or running")
        if a.gpu_type not in active[jid].job.throughput:
            raise ValueError(f"policy {name} put job {jid} on {a.gpu_type}, a type it cannot use")
        used[a.gpu_type] = used.get(a.gpu_type, 0) + a.gpus
    cap = cluster.gpus_per_type()
    for t, n in used.items():
        if n > cap.get(t, 0):
            raise ValueError(f"policy {name} handed out {n} GPUs of {t}; the cluster has {cap.get(t, 0)}")


def simulate(jobs: Sequence[Job], cluster: Cluster, policy: Policy, *, restart_cost: float = 10.0,
             round_length: float = 360.0, spread_factor: float = 0.8, record: bool = False) -> SimResult:
    """Run ``jobs`` (any order) on ``cluster`` under ``policy`` until every job finishes.

    ``round_length`` (s) applies to a ``round_based`` policy (its own ``round_length`` attribute
    wins); ``restart_cost`` (s) is paid at every restart of a job that has run before;
    ``spread_factor`` in (0, 1] is the throughput of a gang spread wider than needed.
    """
    check_jobs(jobs, cluster)
    nonneg_number("restart_cost", restart_cost)
    round_length = positive_number("round_length", getattr(policy, "round_length", round_length))
    locality_factor(1, 1, spread_factor)
    rate_of = getattr(policy, "progress_rate", None)
    sizes = {t: [cluster.machines[m].gpus for m in cluster.machines_of(t)] for t in cluster.gpu_types}
    cands = {t: cluster.machines_of(t) for t in cluster.gpu_types}
    free = [m.gpus for m in cluster.machines]
    states = {j.id: JobState(j, queued_since=j.arrival) for j in jobs}
    arrivals = sorted(jobs, key=lambda j: (j.arrival, j.id))
    res = SimResult(policy.name, cluster, [states[j.id] for j in jobs])
    active: dict[int, JobState] = {}
    stall: dict[int, float] = {}  # job id -> time its restart ends
    rate: dict[int, float] = {}
    since: dict[int, float] = {}  # job id -> start of its current segment
    nxt, now = 0, arrivals[0].arrival
    next_round = now

    def release(s: JobState) -> None:
        a = s.running_on
        for m in a.machines:
            free[m] += 1
        if record:
            res.segments.append(Segment(s.id, a.gpu_type, a.machines, since[s.id], now))
        s.running_on = None

    while active or nxt < len(arrivals):
        while nxt < len(arrivals) and arrivals[nxt].arrival <= now + EPS:
            active[arrivals[nxt].id] = states[arrivals[nxt].id]
            res.contention[arrivals[nxt].id] = len(active)
            nxt += 1
        allocs = dict(policy.schedule(now, list(active.values()), cluster))
        res.n_calls += 1
        _check_allocs(allocs, active, cluster, policy.name)
        started: list[tuple[JobState, Allocation]] = []
        for s in active.values():  # pause or move first, so the freed GPUs can be reused
            old, new = s.running_on, allocs.get(s.id)
            keep = (old is not None and new is not None and old.gpu_type == new.gpu_type and old.gpus == new.gpus
                    and old.batch_size == new.batch_size and new.machines in ((), old.machines))
            if old is not None and not keep:
                release(s)
                s.queued_since = now
                if new is None:
                    s.n_preemptions += 1
            if new is not None and not keep:
                started.append((s, new))
        for s, a in sorted(started, key=lambda p: -len(p[1].machines)):  # pinned placements first
            if a.machines:
                if any(free[m] < a.machines.count(m) or cluster.machines[m].gpu_type != a.gpu_type
                       for m in set(a.machines)):
                    raise ValueError(f"policy {policy.name} pinned job {s.id} to machines {a.machines} without room")
                machines = a.machines
            else:
                machines = place(free, cands[a.gpu_type], a.gpus)
            for m in machines:
                free[m] -= 1
            s.running_on = Allocation(a.gpu_type, a.gpus, machines, a.batch_size)
            s.queueing_delay += now - s.queued_since
            if s.start is None:
                s.start = now
            stall[s.id] = now + (restart_cost if s.done_iterations > 0 else 0.0)
            since[s.id] = now
        running = [s for s in active.values() if s.running_on is not None]
        for s in running:
            a = s.running_on
            if rate_of is not None:  # the policy models its own communication (Pollux's T_sync)
                rate[s.id] = rate_of(s, a)
            else:
                fewest = min_machines(sizes[a.gpu_type], a.gpus)
                rate[s.id] = s.job.throughput[a.gpu_type] * locality_factor(a.n_machines, fewest, spread_factor)
        # the next event: an arrival, a completion, or a round boundary
        t_next = arrivals[nxt].arrival if nxt < len(arrivals) else math.inf
        for s in running:
            t_next = min(t_next, max(stall[s.id], now) + s.remaining_iterations / rate[s.id])
        if policy.round_based and active:
            while next_round <= now + EPS:
                next_round += round_length
            t_next = min(t_next, next_round)
        if t_next == math.inf:
            raise ValueError(f"policy {policy.name} left {len(active)} jobs waiting on an idle cluster with "
                             "nothing left to arrive")
        dt = t_next - now
        for s in running:
            a = s.running_on
            work = max(0.0, t_next - max(stall[s.id], now))
            s.done_iterations = min(s.job.iterations, s.done_iterations + rate[s.id] * work)
            s.attained_service += a.gpus * dt
            s.time_on[a.gpu_type] = s.time_on.get(a.gpu_type, 0.0) + dt
            s.rounds[a.gpu_type] = s.rounds.get(a.gpu_type, 0.0) + dt / round_length
            res.busy_gpu_seconds += a.gpus * dt
        now = t_next
        for s in running:
            if s.remaining_iterations <= EPS * max(1.0, s.job.iterations):
                s.done_iterations = s.job.iterations
                release(s)
                s.finish = now
                del active[s.id]
    return res
