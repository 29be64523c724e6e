"""The fast path of the simulator for FIFO: the same run as
``simulate(jobs, cluster, FIFO())`` (:mod:`mlsys_kit.cluster.simulate`, the teaching path), with
work per event independent of how many jobs are in the cluster.

The teaching path asks the policy about every job at every event (the policy interface: the
whole state in, the whole allocation out), which costs O(active jobs) per event. FIFO without
preemption needs far less: a running job keeps its GPUs until it ends, so its finish time is
known when it starts (``start + iterations / rate``) and goes on a heap; the waiting jobs are a
queue in arrival order, and at each event the head starts while it fits (Philly, ATC'19,
section 2: the gang-scheduled FIFO queue of each virtual cluster). Placement and the locality
slowdown are the teaching path's own functions. Tests check both paths give the same JCTs.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Sequence

from mlsys_kit.cluster.core import GPU_TYPES, Allocation, Cluster, Job, JobState
from mlsys_kit.cluster.placement import locality_factor, min_machines, place
from mlsys_kit.cluster.simulate import EPS, Segment, SimResult, check_jobs


def simulate_fifo(jobs: Sequence[Job], cluster: Cluster, *, spread_factor: float = 0.8,
                  record: bool = False) -> SimResult:
    """FIFO (non-preemptive, head-of-line, fastest type with room), event by event with a heap."""
    check_jobs(jobs, cluster)
    locality_factor(1, 1, spread_factor)
    sizes = {t: [cluster.machines[m].gpus for m in cluster.machines_of(t)] for t in cluster.gpu_types}
    cands = {t: cluster.machines_of(t) for t in cluster.gpu_types}
    rank = {t: -GPU_TYPES.index(t) if t in GPU_TYPES else -99 for t in cluster.gpu_types}
    free = [m.gpus for m in cluster.machines]
    free_type = cluster.gpus_per_type()
    states = {j.id: JobState(j, queued_since=j.arrival) for j in jobs}
    arrivals = sorted(jobs, key=lambda j: (j.arrival, j.id))
    res = SimResult("fifo", cluster, [states[j.id] for j in jobs])
    queue: deque[JobState] = deque()
    heap: list[tuple[float, int]] = []  # (finish, job id) of the running jobs
    nxt, n_active, now = 0, 0, arrivals[0].arrival
    while nxt < len(arrivals) or heap or queue:
        while nxt < len(arrivals) and arrivals[nxt].arrival <= now + EPS:
            queue.append(states[arrivals[nxt].id])
            n_active += 1
            res.contention[arrivals[nxt].id] = n_active
            nxt += 1
        res.n_calls += 1
        while queue:  # start the head while it fits
            s = queue[0]
            tp = s.job.throughput
            fits = [t for t in tp if free_type.get(t, 0) >= s.job.gpus]
            if not fits:
                break
            queue.popleft()
            t = max(fits, key=lambda t: (tp[t], rank[t]))
            machines = place(free, cands[t], s.job.gpus)
            for m in machines:
                free[m] -= 1
            free_type[t] -= s.job.gpus
            s.running_on = Allocation(t, s.job.gpus, machines)
            s.start = now
            s.queueing_delay = now - s.job.arrival
            rate = tp[t] * locality_factor(len(set(machines)), min_machines(sizes[t], s.job.gpus), spread_factor)
            heapq.heappush(heap, (now + s.job.iterations / rate, s.id))
        t_next = min(arrivals[nxt].arrival if nxt < len(arrivals) else float("inf"), heap[0][0] if heap else float("inf"))
        if t_next == float("inf"):
            raise ValueError("FIFO left jobs waiting on an idle cluster")  # unreachable after check_jobs
        now = t_next
        while heap and heap[0][0] <= now + EPS * max(1.0, now):
            _, jid = heapq.heappop(heap)
            s = states[jid]
            a = s.running_on
            for m in a.machines:
                free[m] += 1
            free_type[a.gpu_type] += a.gpus
            s.running_on, s.finish, s.done_iterations = None, now, s.job.iterations
            held = now - s.start
            s.attained_service = a.gpus * held
            s.time_on[a.gpu_type] = held
            res.busy_gpu_seconds += a.gpus * held
            n_active -= 1
            if record:
                res.segments.append(Segment(jid, a.gpu_type, a.machines, s.start, now))
    return res
