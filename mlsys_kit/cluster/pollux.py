"""Pollux: goodput = system throughput x statistical efficiency, and the policy that maximises it.

Follows Qiao et al., "Pollux: Co-adaptive Cluster Scheduling for Goodput-Optimized Deep
Learning" (OSDI'21):

* **section 3.1, statistical efficiency.** With the gradient noise scale ``phi`` (McCandlish et
  al., 2018) and the initial batch size ``M0``, training at batch size ``M`` makes
  ``EFFICIENCY(M) = (phi + M0) / (phi + M)`` as much progress per example as at ``M0``
  (:func:`efficiency`): 1 at ``M0``, falling as ``M`` grows past the noise scale.
* **section 3.2, system throughput.** A job on ``K`` GPUs over ``N`` nodes, ``m`` examples per GPU
  and ``s`` gradient-accumulation steps takes ``T_iter = s * T_grad + (T_grad^gamma +
  T_sync^gamma)^(1/gamma)`` per iteration, with ``T_grad = alpha_grad + beta_grad * m`` and
  ``T_sync = 0`` for ``K = 1``, ``alpha_local + beta_local * (K - 2)`` on one node, ``alpha_node +
  beta_node * (K - 2)`` across nodes; ``gamma >= 1`` models overlap of compute and
  communication. ``THROUGHPUT = M / T_iter`` with ``M = K * m * (s + 1)`` (:func:`throughput`).
* **GOODPUT = THROUGHPUT x EFFICIENCY** (:func:`goodput`); for a given allocation, the job picks
  the ``(m, s)`` that maximise it (:func:`optimal_batch_size`; the paper uses golden-section
  search, we enumerate the integers, which is exact).
* **section 4.2, the cluster policy.** ``SPEEDUP_j(A_j) = max goodput(A_j) / max goodput(fair
  share)`` and ``FITNESS_p(A) = (mean_j SPEEDUP_j^p)^(1/p)`` (``p = -1``: a harmonic mean that
  penalises starving a job). The paper searches allocations with a genetic algorithm; we use a
  **greedy** search instead: every job first gets one GPU in arrival order while GPUs last, then
  one GPU at a time goes to the job whose speedup gain raises the fitness most, until no GPU
  raises it (:func:`greedy_allocation`). Pollux schedules one GPU type (a homogeneous cluster,
  as in the paper's evaluation): the :class:`Pollux` policy uses the type with the most GPUs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from mlsys_kit.checks import nonneg_int, nonneg_number, positive_int, positive_number
from mlsys_kit.cluster.core import Allocation, Cluster, Job, JobState


@dataclass(frozen=True)
class PolluxParams:
    """One job's models: throughput (``alpha_*``, ``beta_*`` in seconds, ``gamma``), statistical
    efficiency (``phi``: gradient noise scale, ``m0``: initial global batch size) and limits
    (``max_local``: examples per GPU that fit in memory, ``max_batch``: the largest global batch)."""

    alpha_grad: float
    beta_grad: float
    alpha_local: float = 0.0
    beta_local: float = 0.0
    alpha_node: float = 0.0
    beta_node: float = 0.0
    gamma: float = 1.0
    phi: float = 1000.0
    m0: int = 32
    max_local: int = 64
    max_batch: int = 4096

    def __post_init__(self) -> None:
        for name in ("alpha_grad", "beta_grad", "alpha_local", "beta_local", "alpha_node", "beta_node", "phi"):
            nonneg_number(name, getattr(self, name))
        if self.alpha_grad + self.beta_grad <= 0:
            raise ValueError("alpha_grad + beta_grad must be > 0: a gradient step takes time")
        if not (isinstance(self.gamma, (int, float)) and 1.0 <= self.gamma < math.inf):
            raise ValueError(f"gamma must be a finite number >= 1 (1: no overlap): got {self.gamma!r}")
        positive_int("m0", self.m0)
        positive_int("max_local", self.max_local)
        positive_int("max_batch", self.max_batch)
        if self.max_batch < self.m0:
            raise ValueError(f"max_batch ({self.max_batch}) must be >= m0 ({self.m0})")


def efficiency(phi: float, m0: int, batch: float) -> float:
    """``(phi + M0) / (phi + M)``: progress per example at batch ``M`` relative to ``M0`` (section 3.1)."""
    nonneg_number("phi", phi)
    positive_number("m0", m0)
    positive_number("batch", batch)
    return float((phi + m0) / (phi + batch))


def iteration_time(p: PolluxParams, gpus: int, nodes: int, local_bsz: int, accum_steps: int = 0) -> float:
    """``T_iter`` of section 3.2 (seconds per optimizer step)."""
    positive_int("gpus", gpus)
    positive_int("nodes", nodes)
    positive_int("local_bsz", local_bsz)
    nonneg_int("accum_steps", accum_steps)
    if nodes > gpus:
        raise ValueError(f"nodes ({nodes}) cannot exceed gpus ({gpus})")
    t_grad = p.alpha_grad + p.beta_grad * local_bsz
    if gpus == 1:
        t_sync = 0.0
    elif nodes == 1:
        t_sync = p.alpha_local + p.beta_local * (gpus - 2)
    else:
        t_sync = p.alpha_node + p.beta_node * (gpus - 2)
    g = p.gamma
    return float(accum_steps * t_grad + (t_grad ** g + t_sync ** g) ** (1.0 / g))


def throughput(p: PolluxParams, gpus: int, nodes: int, local_bsz: int, accum_steps: int = 0) -> float:
    """Examples per second: ``M / T_iter`` with ``M = gpus * local_bsz * (accum_steps + 1)``."""
    batch = gpus * local_bsz * (accum_steps + 1)
    return float(batch / iteration_time(p, gpus, nodes, local_bsz, accum_steps))


def goodput(p: PolluxParams, gpus: int, nodes: int, local_bsz: int, accum_steps: int = 0) -> float:
    """``THROUGHPUT x EFFICIENCY`` (section 3): examples per second, counted as examples at ``M0``."""
    batch = gpus * local_bsz * (accum_steps + 1)
    return throughput(p, gpus, nodes, local_bsz, accum_steps) * efficiency(p.phi, p.m0, batch)


def optimal_batch_size(p: PolluxParams, gpus: int, nodes: int, max_accum: int = 0) -> tuple[int, int, int, float]:
    """The goodput-optimal ``(batch, local_bsz, accum_steps, goodput)`` on this allocation: every
    per-GPU batch ``1..max_local`` and accumulation ``0..max_accum`` with ``m0 <= batch <=
    max_batch`` (ties: the first found, i.e. the fewest accumulation steps, then the smallest
    per-GPU batch). If no choice is in that range, the nearest one the allocation can run is
    taken (the policy must run the job somehow); lab 10's version raises ValueError instead."""
    positive_int("gpus", gpus)
    nonneg_int("max_accum", max_accum)
    best: tuple[int, int, int, float] | None = None
    for s in range(max_accum + 1):
        for m in range(1, p.max_local + 1):
            batch = gpus * m * (s + 1)
            if batch < p.m0 or batch > p.max_batch:
                continue
            g = goodput(p, gpus, nodes, m, s)
            if best is None or g > best[3]:
                best = (batch, m, s, g)
    if best is None:  # every choice is outside [m0, max_batch]: the nearest one
        m = 1 if gpus >= p.m0 else min(p.max_local, -(-p.m0 // gpus))
        s = 0 if gpus * m >= p.m0 else min(max_accum, -(-p.m0 // (gpus * m)) - 1)
        best = (gpus * m * (s + 1), m, s, goodput(p, gpus, nodes, m, s))
    return best


def nodes_for(gpus: int, per_machine: int) -> int:
    """Machines a packed placement of ``gpus`` GPUs spans."""
    return -(-gpus // per_machine)


@lru_cache(maxsize=1 << 16)
def _best(p: PolluxParams, gpus: int, nodes: int) -> tuple[int, int, int, float]:
    """:func:`optimal_batch_size` remembered (the policy asks for the same few allocations often)."""
    return optimal_batch_size(p, gpus, nodes)


def speedup(p: PolluxParams, gpus: int, fair_gpus: int, per_machine: int) -> float:
    """``SPEEDUP = best goodput on gpus / best goodput on the fair share`` (section 4.2); 0 for 0 GPUs."""
    if gpus == 0:
        return 0.0
    g = _best(p, gpus, nodes_for(gpus, per_machine))[3]
    return g / _best(p, fair_gpus, nodes_for(fair_gpus, per_machine))[3]


def fitness(speedups: Sequence[float], p: float = -1.0) -> float:
    """``FITNESS_p = (mean speedup^p)^(1/p)`` (section 4.2); 0 if ``p < 0`` and some job has none."""
    if not speedups:
        raise ValueError("fitness needs at least one job's speedup")
    if p == 0:
        raise ValueError("p must be non-zero (-1: Pollux's default, a harmonic mean)")
    if p < 0 and min(speedups) <= 0:
        return 0.0
    return float((sum(s ** p for s in speedups) / len(speedups)) ** (1.0 / p))


def greedy_allocation(params: Sequence[PolluxParams], max_gpus: Sequence[int], total: int, per_machine: int,
                      p: float = -1.0) -> list[int]:
    """GPUs per job maximising ``FITNESS_p`` greedily (our stand-in for the paper's genetic
    algorithm): one GPU each in order while they last, then one GPU at a time to the job whose
    extra GPU raises the fitness most (ties: the earlier job), while some GPU raises it."""
    n = len(params)
    if len(max_gpus) != n:
        raise ValueError("give one max_gpus per job")
    nonneg_int("total", total)
    positive_int("per_machine", per_machine)
    fair = max(1, total // max(n, 1))
    alloc = [0] * n
    left = total
    for j in range(n):
        if left and max_gpus[j] >= 1:
            alloc[j], left = 1, left - 1
    cache: dict[tuple[int, int], float] = {}

    def sp(j: int, k: int) -> float:
        if (j, k) not in cache:
            cache[j, k] = speedup(params[j], k, min(fair, max_gpus[j]), per_machine)
        return cache[j, k]

    while left > 0:
        cur = [sp(j, alloc[j]) for j in range(n)]
        base = fitness(cur, p) if n else 0.0
        best_j, best_f = None, base
        for j in range(n):
            if 0 < alloc[j] < max_gpus[j]:
                trial = cur[:j] + [sp(j, alloc[j] + 1)] + cur[j + 1:]
                f = fitness(trial, p) if min(trial) > 0 or p > 0 else sum(s for s in trial)
                if f > best_f + 1e-12:
                    best_j, best_f = j, f
        if best_j is None:
            break
        alloc[best_j] += 1
        left -= 1
    return alloc


def params_for(job: Job, gpu_type: str) -> PolluxParams:
    """The job's Pollux parameters on ``gpu_type``. A job without ``pollux`` gets models made
    from its throughput: at its ``gpus`` and batch it runs ``throughput[gpu_type]`` iterations/s,
    80 % computing and (if ``gpus > 1``) 20 % synchronising; noise scale ``4 * batch``."""
    rate = job.throughput[gpu_type]
    if isinstance(job.pollux, PolluxParams):
        fastest = max(job.throughput.values())
        f = fastest / rate  # slower types compute slower
        q = job.pollux
        return PolluxParams(q.alpha_grad * f, q.beta_grad * f, q.alpha_local, q.beta_local, q.alpha_node,
                            q.beta_node, q.gamma, q.phi, q.m0, q.max_local, q.max_batch)
    m0 = job.batch_size or 32 * job.gpus
    t_iter = 1.0 / rate
    t_grad = 0.8 * t_iter if job.gpus > 1 else t_iter
    local = max(1, m0 // job.gpus)
    sync = 0.2 * t_iter
    return PolluxParams(alpha_grad=0.2 * t_grad, beta_grad=0.8 * t_grad / local, alpha_local=sync, alpha_node=sync,
                        beta_node=0.0, phi=4.0 * m0, m0=m0, max_local=max(2 * local, 1), max_batch=max(16 * m0, m0))


class Pollux:
    """The Pollux policy: GPUs by :func:`greedy_allocation` every round, each job at its
    goodput-optimal batch size; ``progress_rate`` tells the simulator how many iterations of the
    job's own batch size (``M0``) per second that is (goodput / ``M0``)."""

    name = "pollux"
    round_based = True

    def __init__(self, p: float = -1.0) -> None:
        if not isinstance(p, (int, float)) or p == 0 or not math.isfinite(p):
            raise ValueError(f"p must be a non-zero finite number (-1: Pollux's default): got {p!r}")
        self.p = float(p)
        self._params: dict[tuple[int, str], PolluxParams] = {}

    @staticmethod
    def _pool(cluster: Cluster) -> tuple[str, int, int]:
        per_type = cluster.gpus_per_type()
        t = max(cluster.gpu_types, key=lambda x: per_type[x])
        per_machine = max(m.gpus for m in cluster.machines if m.gpu_type == t)
        return t, per_type[t], per_machine

    def schedule(self, now: float, jobs: Sequence[JobState], cluster: Cluster) -> dict[int, Allocation]:
        t, total, per_machine = self._pool(cluster)
        runnable = sorted((s for s in jobs if t in s.job.throughput), key=lambda s: (s.job.arrival, s.id))
        if not runnable:
            return {}
        params = [self._params_of(s.job, t) for s in runnable]
        alloc = greedy_allocation(params, [min(s.job.gpus, total) for s in runnable], total, per_machine, self.p)
        out = {}
        for s, q, k in zip(runnable, params, alloc):
            if k:
                batch = _best(q, k, nodes_for(k, per_machine))[0]
                out[s.id] = Allocation(t, k, (), batch)
        return out

    def _params_of(self, job: Job, gpu_type: str) -> PolluxParams:
        key = (job.id, gpu_type)
        if key not in self._params:
            self._params[key] = params_for(job, gpu_type)
        return self._params[key]

    def progress_rate(self, state: JobState, allocation: Allocation) -> float:
        """Iterations of batch ``M0`` per second: ``goodput / M0`` at the allocation's batch size."""
        q = self._params_of(state.job, allocation.gpu_type)
        k = allocation.gpus
        nodes = allocation.n_machines or 1
        batch = allocation.batch_size or q.m0
        local = max(1, batch // k)
        return goodput(q, k, nodes, local) / q.m0


def pollux(p: float = -1.0) -> Pollux:
    """The factory the registry calls."""
    return Pollux(p)
