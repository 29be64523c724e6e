"""In-memory checkpoints in the CPU memory of peer machines (GEMINI).

Follows Wang et al., "GEMINI: Fast Failure Recovery in Distributed Training with In-Memory
Checkpoints" (SOSP'23): section 4 (checkpoint placement: each machine's checkpoint is kept in
the CPU memory of m machines, itself included; *group* placement cuts the N machines into
N/m groups that hold each other's checkpoints, *ring* placement keeps machine i's on i, i+1,
..., i+m-1 mod N, *mixed* uses groups and one ring over the rest when m does not divide N;
the probability that a failure of k machines can still be recovered from CPU memory, which
group placement maximises), section 5 (checkpoint traffic interleaved with training traffic:
the checkpoint is cut into chunks that fit the idle spans of the network during a step) and
the recovery time (from a peer's memory at network bandwidth vs remote storage at its own).

A failure of k machines is recoverable from memory iff every machine's checkpoint survives on
at least one machine that did not fail. The closed forms (:func:`recovery_probability`) count
the k-subsets that wipe out a whole replica set (inclusion-exclusion over groups; runs of m
failed machines on a cycle for the ring); the tests compare them with brute-force
enumeration and Monte Carlo.
"""

from __future__ import annotations

import itertools
import random
from math import comb

from mlsys_kit.checks import nonneg_int, nonneg_number, one_of, positive_int, positive_number
from mlsys_kit.fault.waste import job_mtbf, young_interval
from mlsys_kit.pipeline.generators import one_f_one_b
from mlsys_kit.pipeline.simulate import simulate

STRATEGIES = ("group", "ring", "mixed")


def _check(n: int, m: int, strategy: str) -> None:
    positive_int("machines N", n)
    positive_int("replicas m", m)
    one_of("placement strategy", strategy, STRATEGIES)
    if m > n:
        raise ValueError(f"m={m} replicas need at least m machines: got N={n}")
    if strategy == "group" and n % m:
        raise ValueError(f"group placement needs m to divide N: got N={n}, m={m} (use 'mixed' or 'ring')")


def placement(n: int, m: int, strategy: str = "group") -> list[list[int]]:
    """``holders[i]``: the m machines whose CPU memory keeps machine i's checkpoint (i first)."""
    _check(n, m, strategy)
    if strategy == "ring":
        return [[(i + j) % n for j in range(m)] for i in range(n)]
    groups = n // m if strategy == "group" or n % m == 0 else n // m - 1
    holders = []
    for i in range(groups * m):
        g = i // m
        holders.append([i] + [g * m + j for j in range(m) if g * m + j != i])
    rest = list(range(groups * m, n))  # mixed: one ring over the last m + (N mod m) machines
    for a, i in enumerate(rest):
        holders.append([rest[(a + j) % len(rest)] for j in range(m)])
    return holders


def recoverable(holders: list[list[int]], failed: set[int] | frozenset[int]) -> bool:
    """Whether every machine's checkpoint still sits on a machine that did not fail."""
    if not holders or any(not hs for hs in holders):
        raise ValueError("holders must list, for every machine, the non-empty list of machines keeping its checkpoint")
    return all(any(h not in failed for h in hs) for hs in holders)


def _ring_bad(n: int, m: int, k: int) -> int:
    """k-subsets of an n-cycle that contain m cyclically consecutive machines.

    The complement: k failed among n on a cycle with every run of failures shorter than m.
    Cut the cycle into the n-k gaps after each alive machine: arrangements are sequences of
    n-k run lengths in [0, m-1] summing to k, counted by inclusion-exclusion over runs >= m,
    times n/(n-k) for the rotations (each arrangement counted once per alive machine).
    """
    if k < m:
        return 0
    if k == n:
        return 1
    alive = n - k
    good_seq = sum((-1) ** j * comb(alive, j) * comb(k - j * m + alive - 1, alive - 1)
                   for j in range(0, k // m + 1))
    return comb(n, k) - good_seq * n // alive


def _group_bad(groups: int, m: int, k: int, n: int) -> int:
    """k-subsets of n machines containing at least one whole group (inclusion-exclusion)."""
    return sum((-1) ** (i + 1) * comb(groups, i) * comb(n - i * m, k - i * m)
               for i in range(1, min(groups, k // m) + 1))


def recovery_probability(n: int, m: int, k: int, strategy: str = "group") -> float:
    """P(a failure of k machines, chosen uniformly, can be recovered from CPU memory), closed form.

    Group: 1 - Σ_i (-1)^{i+1} C(N/m, i) C(N - i m, k - i m) / C(N, k) (section 4; for
    k < 2m the paper's 1 - (N/m) C(N-m, k-m) / C(N, k)). Ring: runs of m on a cycle.
    Mixed: groups and the ring over the rest, each must survive (sum over how the k split).
    """
    _check(n, m, strategy)
    nonneg_int("failed machines k", k)
    if k > n:
        raise ValueError(f"k={k} failed machines cannot exceed N={n}")
    total = comb(n, k)
    if strategy == "group":
        return 1 - _group_bad(n // m, m, k, n) / total
    if strategy == "ring" or n % m == 0:
        return 1 - _ring_bad(n, m, k) / total if strategy == "ring" else 1 - _group_bad(n // m, m, k, n) / total
    groups = n // m - 1
    g_n, r_n = groups * m, n - groups * m
    good = 0
    for a in range(max(0, k - r_n), min(k, g_n) + 1):  # a failures among the grouped machines
        g_good = comb(g_n, a) - (_group_bad(groups, m, a, g_n) if groups else 0)
        r_good = comb(r_n, k - a) - _ring_bad(r_n, m, k - a)
        good += g_good * r_good
    return good / total


def brute_force_probability(n: int, m: int, k: int, strategy: str = "group") -> float:
    """The same probability by enumerating every k-subset (small N only)."""
    holders = placement(n, m, strategy)
    nonneg_int("failed machines k", k)
    subsets = list(itertools.combinations(range(n), k))
    return sum(recoverable(holders, frozenset(s)) for s in subsets) / len(subsets)


def monte_carlo_probability(n: int, m: int, k: int, strategy: str = "group", trials: int = 10_000,
                            seed: int = 0) -> float:
    """The same probability estimated from ``trials`` random k-subsets."""
    holders = placement(n, m, strategy)
    nonneg_int("failed machines k", k)
    positive_int("trials", trials)
    rng = random.Random(seed)
    return sum(recoverable(holders, frozenset(rng.sample(range(n), k))) for _ in range(trials)) / trials


def idle_gaps(busy: list[tuple[float, float]], step: float) -> list[tuple[float, float]]:
    """The spans of [0, step] not covered by any (start, end) in ``busy`` (network idle time)."""
    positive_number("step time", step)
    gaps, t = [], 0.0
    for s, e in sorted(busy):
        if s > t:
            gaps.append((t, min(s, step)))
        t = max(t, e)
    if t < step:
        gaps.append((t, step))
    return [(s, e) for s, e in gaps if e > s]


def interleave(gaps: list[tuple[float, float]], checkpoint_bytes: float, bandwidth: float,
               chunk_bytes: float, reserve: float = 0.0) -> dict:
    """Place checkpoint chunks of ``chunk_bytes`` into the idle ``gaps`` of a step (section 5).

    A chunk goes into a gap only if it fits whole, after ``reserve`` seconds of margin at the
    gap's end (GEMINI leaves room so that the training traffic is never delayed). Returns the
    chunks per step, the steps needed to send ``checkpoint_bytes`` (``math.inf`` if no chunk
    ever fits) and the chunks' (start, end) in one step.
    """
    nonneg_number("checkpoint bytes", checkpoint_bytes)
    positive_number("network bandwidth (bytes/s)", bandwidth)
    positive_number("chunk bytes", chunk_bytes)
    nonneg_number("reserve (s)", reserve)
    chunk_t = chunk_bytes / bandwidth
    spans = []
    for s, e in gaps:
        if e < s:
            raise ValueError(f"a gap must end after it starts: got ({s}, {e})")
        t = s
        while t + chunk_t <= e - reserve + 1e-12:
            spans.append((t, t + chunk_t))
            t += chunk_t
    chunks = -(-checkpoint_bytes // chunk_bytes)
    steps = float("inf") if not spans else -(-chunks // len(spans))
    return {"chunks_per_step": len(spans), "chunks": int(chunks), "steps": steps, "spans": spans,
            "bytes_per_step": len(spans) * chunk_bytes}


def recovery_time(checkpoint_bytes: float, bandwidth: float, fixed: float = 0.0) -> float:
    """Seconds to fetch a checkpoint at ``bandwidth`` bytes/s, plus a fixed restart cost."""
    nonneg_number("checkpoint bytes", checkpoint_bytes)
    positive_number("bandwidth (bytes/s)", bandwidth)
    return nonneg_number("fixed cost (s)", fixed) + checkpoint_bytes / bandwidth


def pipeline_network_busy(p: int, microbatches: int, t_f: float, t_b: float, send_time: float,
                          allreduce_time: float, rank: int = 0) -> tuple[list[tuple[float, float]], float]:
    """One training step's network use on ``rank``, from our pipeline simulator (1F1B).

    Busy: every activation/gradient this rank sends or receives (``send_time`` each, starting
    when the producing action ends) and the data-parallel gradient all-reduce after the last
    backward (``allreduce_time``). Returns (busy spans, step time). GEMINI profiles the same
    thing from a real step (section 5, the first iterations).
    """
    nonneg_number("send time", send_time)
    nonneg_number("all-reduce time", allreduce_time)
    if not (isinstance(rank, int) and 0 <= rank < p):
        raise ValueError(f"rank must be in [0, p={p}): got {rank!r}")
    sim = simulate(one_f_one_b(p, microbatches), t_f=t_f, t_b=t_b, t_w=0.0)
    busy = []
    for e in sim.events:
        to = e.rank + 1 if e.action.kind == "F" else e.rank - 1
        if 0 <= to < p and rank in (e.rank, to) and send_time > 0:
            busy.append((e.end, e.end + send_time))
    step = sim.makespan + allreduce_time
    if allreduce_time > 0:
        busy.append((sim.makespan, step))
    return sorted(busy), step


def headline(params: float = 100e9, bytes_per_param: float = 12, machines: int = 16, replicas: int = 2,
             network_gbps: float = 400, storage_gbps: float = 20, iteration_s: float = 10.0,
             idle_fraction: float = 0.3, machine_mtbf_h: float = 24 * 365 / 12) -> dict:
    """GEMINI vs remote-storage checkpointing for one setting (defaults: the paper's section 7
    setting as we read it: GPT-2 100B on 16 p4d.24xlarge, 400 Gbps network, 20 Gbps storage).

    Remote storage: a checkpoint of the whole model at ``storage_gbps``; checkpoint every
    Young interval for the job MTBF; a failure costs half an interval of redone work plus the
    retrieval. GEMINI: each machine sends its shard to m-1 peers in the idle network time
    (``idle_fraction`` of each step at ``network_gbps``), so it checkpoints every
    ``steps`` iterations; a failure costs half of that plus the shard's retrieval from a peer.
    """
    total = positive_number("params", params) * positive_number("bytes per param", bytes_per_param)
    _check(machines, replicas, "group" if machines % replicas == 0 else "mixed")
    shard = total / machines
    net, sto = network_gbps * 1e9 / 8, storage_gbps * 1e9 / 8
    m_job = job_mtbf(machine_mtbf_h * 3600, machines)
    c_remote = total / sto
    t_remote = young_interval(c_remote, m_job)
    per_step = positive_number("idle fraction", idle_fraction) * positive_number("iteration (s)", iteration_s) * net
    steps = max(1, -(-(shard * (replicas - 1)) // per_step))
    t_gemini = steps * iteration_s
    out = {"checkpoint_bytes": total, "shard_bytes": shard, "job_mtbf_s": m_job,
           "remote": {"checkpoint_s": c_remote, "interval_s": t_remote, "retrieval_s": recovery_time(total, sto)},
           "gemini": {"checkpoint_steps": steps, "interval_s": t_gemini, "retrieval_s": recovery_time(shard, net)}}
    for k in ("remote", "gemini"):
        out[k]["wasted_per_failure_s"] = out[k]["interval_s"] / 2 + out[k]["retrieval_s"]
    out["recovery_speedup"] = out["remote"]["retrieval_s"] / out["gemini"]["retrieval_s"]
    out["wasted_time_ratio"] = out["remote"]["wasted_per_failure_s"] / out["gemini"]["wasted_per_failure_s"]
    return out
