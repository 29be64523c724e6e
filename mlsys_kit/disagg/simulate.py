"""Disaggregated serving: prefill instances and decode instances apart, the KV cache moved between.

DistServe (Zhong et al., OSDI'24), sections 2-4: a colocated engine batches prompts (prefill,
compute-bound) with token generation (decode, memory-bound), so one phase's iterations delay the
other's (section 2.2, "prefill-decoding interference") and both must share one parallelism.
Disaggregation gives each phase its own instances. A request's life here:

1. **prefill pool**: it is dispatched (round robin) to one of ``prefill.instances`` instances,
   queues there, and is prefilled by the serving engine's own loop and scheduler
   (:func:`~mlsys_kit.serving.engine.serve` on a :class:`~mlsys_kit.serving.simulator.SimBackend`,
   the request cut to one output token). The prefill samples token 1.
2. **link**: its prompt's KV cache, ``prompt_len * kv_bytes_per_token`` bytes (PagedAttention
   section 2.3; :func:`mlsys_kit.models.costs.kv_bytes_per_token`), crosses the prefill
   instance's link (``latency + bytes / bandwidth``), one transfer at a time per link (FIFO).
3. **decode pool**: it lands on one of ``decode.instances`` decode instances (round robin) and
   generates tokens 2..output_len there, again with the engine's loop and scheduler. The
   imported KV is admitted like a prompt but priced as no compute (:class:`ImportBackend`).

Token 1 reaches the user from the decode instance, as in vLLM's disaggregated prefill, so the
**TTFT includes the transfer**: ``ttft = transfer_end - arrival`` (queueing + prefill + the KV
on the wire). TPOT is the mean gap of the later tokens, as in :mod:`mlsys_kit.serving.metrics`.
A request with one output token is done after its prefill: nothing moves.

The pools feed forward (a prefill never waits for a decode instance: DistServe section 4.3
keeps the KV on the prefill side until the decode side pulls it, which this model ignores), so
the prefill pool is simulated first, then the links, then the decode pool: each part is the
single-pool engine, unchanged. Parallelism within a pool is tensor parallelism ``tp``: its
iterations are ``speedup(tp) = tp * efficiency**log2(tp)`` times faster (DistServe section 3.1:
intra-op parallelism pays communication) and it holds ``tp`` devices' worth of KV blocks.
Goodput, the placement search and Mooncake's ideas live in :mod:`mlsys_kit.disagg.placement`
and :mod:`mlsys_kit.disagg.mooncake`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from mlsys_kit.checks import fraction, nonneg_number, one_of, positive_int, positive_number
from mlsys_kit.disagg.config import DISAGG, DisaggConfig
from mlsys_kit.serving.engine import serve
from mlsys_kit.serving.metrics import meets_slo, percentile, request_latencies
from mlsys_kit.serving.registry import SCHEDULERS, make_scheduler
from mlsys_kit.serving.sequence import FINISHED, Seq
from mlsys_kit.serving.simulator import CostModel, SimBackend
from mlsys_kit.serving.workload import Request, validate_trace


@dataclass(frozen=True)
class Link:
    """The wire between a prefill instance and the decode side: ``gbps`` gigabits per second
    (None: infinitely fast) and a fixed ``latency`` in seconds per transfer."""

    gbps: float | None = DISAGG.link_gbps
    latency: float = DISAGG.link_latency

    def __post_init__(self) -> None:
        if self.gbps is not None:
            positive_number("link gbps", self.gbps)
        nonneg_number("link latency", self.latency)

    def seconds(self, nbytes: int) -> float:
        """Time to move ``nbytes`` over this link."""
        return self.latency + (0.0 if self.gbps is None else nbytes * 8 / (self.gbps * 1e9))


@dataclass(frozen=True)
class Pool:
    """A group of identical instances: how many, their tensor parallelism, their scheduler
    (one of :data:`~mlsys_kit.serving.registry.SCHEDULERS`) and its limits."""

    instances: int = 1
    tp: int = 1
    scheduler: str = "vllm"
    max_num_seqs: int = 128
    token_budget: int = 2048

    def __post_init__(self) -> None:
        positive_int("instances", self.instances)
        positive_int("tp", self.tp)
        one_of("scheduler", self.scheduler, SCHEDULERS)
        positive_int("max_num_seqs", self.max_num_seqs)
        positive_int("token_budget", self.token_budget)
        if self.scheduler == "chunked" and self.token_budget < self.max_num_seqs:
            raise ValueError(f"the chunked scheduler's token_budget ({self.token_budget}) must be >= "
                             f"max_num_seqs ({self.max_num_seqs})")

    @property
    def devices(self) -> int:
        return self.instances * self.tp


def pools_and_link(cfg: DisaggConfig = DISAGG) -> tuple[Pool, Pool, Link]:
    """The prefill pool, the decode pool and the KV link that ``cfg`` describes."""
    if not isinstance(cfg, DisaggConfig):
        raise TypeError(f"cfg must be a DisaggConfig: got {type(cfg).__name__}")
    return (Pool(cfg.prefill, cfg.prefill_tp, cfg.prefill_scheduler), Pool(cfg.decode, cfg.decode_tp, cfg.decode_scheduler),
            Link(cfg.link_gbps, cfg.link_latency))


@dataclass(frozen=True)
class Hardware:
    """What one device gives a pool: the iteration cost model at tp=1, KV bytes per token, KV
    blocks one device holds beside the weights (``blocks_at(tp)`` for a tp-way instance)."""

    cost: CostModel = field(default_factory=CostModel)
    kv_bytes_per_token: int = 819_200  # OPT-13B in fp16: 2 x 40 layers x 5120 x 2 bytes
    device_kv_bytes: float = 50e9  # memory per device left for the KV cache at tp=1
    weight_bytes: float = 0.0  # the model's weights, spread over tp devices
    block_size: int = 16
    tp_efficiency: float = 0.9

    def __post_init__(self) -> None:
        positive_int("kv_bytes_per_token", self.kv_bytes_per_token)
        positive_number("device_kv_bytes", self.device_kv_bytes)
        nonneg_number("weight_bytes", self.weight_bytes)
        positive_int("block_size", self.block_size)
        fraction("tp_efficiency", self.tp_efficiency)

    def speedup(self, tp: int) -> float:
        return tp * self.tp_efficiency ** math.log2(tp)

    def cost_at(self, tp: int) -> CostModel:
        """The cost model of a ``tp``-way tensor-parallel instance (every term sped up alike)."""
        s = self.speedup(tp)
        c = self.cost
        return replace(c, a=c.a / s, b=c.b / s, c=c.c / s, d=c.d / s)

    def blocks_at(self, tp: int) -> int:
        """KV blocks of a ``tp``-way instance: its devices' KV memory, plus the weight bytes that
        tp-way sharding frees on each of the other devices; 0 when it cannot hold the model."""
        free = tp * self.device_kv_bytes + self.weight_bytes * (tp - 1) / tp * (tp > 1)
        return int(free // (self.kv_bytes_per_token * self.block_size))


class ImportBackend(SimBackend):
    """A decode instance's back-end: a request arrives with its prompt's KV already computed
    (on the prefill side), so the tokens it brings cost no compute; only its first decode
    (the iteration that completes it and samples token 2) is priced, as a decode."""

    def execute(self, batch, prefill, decode, context, *args, **kwargs):  # type: ignore[override]
        seconds, sampled = super().execute(batch, prefill, decode, context, *args, **kwargs)
        imported = completed = 0
        for seq, n in batch:
            if seq.num_generated == 0:  # still importing: its K/V came over the link
                imported += n
                completed += seq.num_computed + n == seq.length
        return seconds - self.cost.b * imported + self.cost.c * completed, sampled


def run_pool(requests: Sequence[Request], pool: Pool, hw: Hardware, backend: type = SimBackend,
             assign: Sequence[int] | None = None) -> list[Seq]:
    """Serve ``requests`` (sorted by arrival) on the pool's instances, request j on instance
    ``assign[j]`` (default: round robin); each instance is one run of the serving engine.
    Returns the engine's Seqs, in input order."""
    cost, blocks = hw.cost_at(pool.tp), hw.blocks_at(pool.tp)
    if blocks < 1:
        raise ValueError(f"a tp={pool.tp} instance cannot hold the model's weights: no room for KV blocks")
    if assign is None:
        assign = [j % pool.instances for j in range(len(requests))]
    elif len(assign) != len(requests) or any(not 0 <= a < pool.instances for a in assign):
        raise ValueError(f"assign needs one instance in [0, {pool.instances}) per request")
    out: list[Seq | None] = [None] * len(requests)
    for i in range(pool.instances):
        mine = [j for j, a in enumerate(assign) if a == i]
        if not mine:
            continue
        factory = lambda kv: make_scheduler(pool.scheduler, kv, pool.max_num_seqs, pool.token_budget)  # noqa: E731
        res = serve([requests[j] for j in mine], factory, backend(cost, blocks, hw.block_size))
        for j, seq in zip(mine, res.seqs):
            out[j] = seq
    return out  # type: ignore[return-value]


@dataclass
class DisaggResult:
    """Per request (input order): ``seqs`` with the end-to-end times (``first_token_time`` is
    when token 1 reached the user; None for a rejected request), and the phase times
    ``prefill_end``, ``transfer_end``; the KV bytes moved and the devices used."""

    requests: list[Request]
    seqs: list[Seq]
    prefill_end: list[float | None]
    transfer_end: list[float | None]
    kv_bytes_moved: int
    devices: int
    rejected: set[int] = field(default_factory=set)
    wall_seconds: float = 0.0
    prefill_seqs: list[Seq] = field(default_factory=list)
    decode_seqs: list[Seq | None] = field(default_factory=list)


def transfer_aware_ttft(arrival: float, prefill_end: float, transfer_seconds: float) -> float:
    """TTFT of a disaggregated request: queueing and prefill (``prefill_end - arrival``) plus
    the KV transfer, since token 1 reaches the user from the decode instance."""
    return prefill_end - arrival + transfer_seconds


def simulate_disagg(requests: Sequence[Request], prefill: Pool, decode: Pool, link: Link = Link(),
                    hw: Hardware = Hardware(), compute_tokens: Sequence[int] | None = None,
                    ready: Sequence[float] | None = None, instance: Sequence[int] | None = None) -> DisaggResult:
    """Simulate DistServe's disaggregated serving of ``requests`` (sorted by arrival).

    ``compute_tokens[i]`` (default: the prompt) is how much of request i's prompt the prefill
    side computes and ``ready[i]`` (default: its arrival) when it may start: Mooncake's KV pool
    (:mod:`mlsys_kit.disagg.mooncake`) shrinks the first and delays the second. The KV moved
    to the decode side is always the whole prompt's. ``instance[i]`` picks request i's prefill
    instance (default: round robin in order of ``ready``)."""
    t0 = time.perf_counter()
    validate_trace(requests)
    n = len(requests)
    compute = [r.prompt_len for r in requests] if compute_tokens is None else list(compute_tokens)
    start = [r.arrival for r in requests] if ready is None else list(ready)
    if len(compute) != n or len(start) != n or (instance is not None and len(instance) != n):
        raise ValueError(f"compute_tokens, ready and instance need one entry per request ({n})")
    order = sorted(range(n), key=lambda i: (start[i], i))
    jobs = [Request(k, start[i], compute[i], 1) for k, i in enumerate(order)]
    pre = run_pool(jobs, prefill, hw, assign=None if instance is None else [instance[i] for i in order])
    prefill_seqs: list[Seq] = [None] * n  # type: ignore[list-item]
    prefill_end: list[float | None] = [None] * n
    lane = [0] * n  # the prefill instance (and so the link) of each request
    for k, i in enumerate(order):
        prefill_seqs[i], prefill_end[i] = pre[k], pre[k].finish_time
        lane[i] = k % prefill.instances if instance is None else instance[i]
    # the links: each prefill instance sends its requests' KV one after another, in finish order
    transfer_end: list[float | None] = [None] * n
    moved, link_free = 0, [0.0] * prefill.instances
    for i in sorted(range(n), key=lambda i: (prefill_end[i], i)):
        if requests[i].output_len == 1:
            continue  # done at the prefill: nothing to decode, nothing moves
        nbytes = requests[i].prompt_len * hw.kv_bytes_per_token
        begin = max(prefill_end[i], link_free[lane[i]])
        link_free[lane[i]] = transfer_end[i] = begin + link.seconds(nbytes)
        moved += nbytes
    # the decode pool: prompt + token 1 arrive as KV, tokens 2..output_len are generated
    todo = sorted((i for i in range(n) if transfer_end[i] is not None), key=lambda i: (transfer_end[i], i))
    dec_jobs = [Request(k, transfer_end[i], requests[i].prompt_len + 1, requests[i].output_len - 1)
                for k, i in enumerate(todo)]
    dec = run_pool(dec_jobs, decode, hw, ImportBackend) if dec_jobs else []
    decode_seqs: list[Seq | None] = [None] * n
    seqs = []
    for i, r in enumerate(requests):
        s = Seq(r, i, with_tokens=False)
        s.num_generated = s.num_computed = r.output_len
        s.status = FINISHED
        s.events = [(r.arrival, "queued")] + [e for e in prefill_seqs[i].events[1:] if e[1] != "finished"]
        s.first_token_time = transfer_end[i] if transfer_end[i] is not None else prefill_end[i]
        s.last_token_time = s.finish_time = s.first_token_time
        seqs.append(s)
    for k, i in enumerate(todo):
        d = decode_seqs[i] = dec[k]
        s = seqs[i]
        s.events.append((prefill_end[i], "transfer"))
        s.events += [e for e in d.events if e[1] in ("decode", "preempted")]
        s.last_token_time, s.finish_time = d.last_token_time, d.finish_time
        s.max_gap = max(d.max_gap, d.first_token_time - s.first_token_time)
    for s in seqs:
        s.events.append((s.finish_time, "finished"))
    return DisaggResult(list(requests), seqs, prefill_end, transfer_end, moved, prefill.devices + decode.devices,
                        wall_seconds=time.perf_counter() - t0, prefill_seqs=prefill_seqs, decode_seqs=decode_seqs)


def simulate_colocated(requests: Sequence[Request], pool: Pool, hw: Hardware = Hardware()) -> DisaggResult:
    """The baseline on the same devices: every instance prefills and decodes (the serving
    engine as it is, e.g. ``vllm`` or Sarathi's ``chunked``), dispatched round robin."""
    t0 = time.perf_counter()
    validate_trace(requests)
    seqs = run_pool(list(requests), pool, hw)
    ends = [s.first_token_time for s in seqs]
    return DisaggResult(list(requests), seqs, ends, [None] * len(seqs), 0, pool.devices,
                        wall_seconds=time.perf_counter() - t0)


def slo_attainment(seqs: Sequence[Any], ttft_slo: float | None, tpot_slo: float | None) -> float:
    """DistServe's SLO attainment: the fraction of ALL requests whose TTFT and TPOT meet the
    targets; a request that never finished (rejected, dropped) counts as a miss."""
    if not seqs:
        raise ValueError("attainment needs at least one request")
    ok = sum(s.finish_time is not None and meets_slo(s, ttft_slo, tpot_slo) for s in seqs)
    return ok / len(seqs)


def summarize_disagg(res: DisaggResult, ttft_slo: float | None, tpot_slo: float | None) -> dict[str, Any]:
    """Headline numbers of a run: attainment, TTFT/TPOT percentiles, bytes moved, devices."""
    done = [s for s in res.seqs if s.finish_time is not None]
    ttft, tpot, e2e = request_latencies(done)
    span = max((s.finish_time for s in done), default=0.0)
    moved = [t - p for t, p in zip(res.transfer_end, res.prefill_end) if t is not None]
    d: dict[str, Any] = {"requests": len(res.seqs), "rejected": len(res.rejected), "devices": res.devices,
                         "attainment": slo_attainment(res.seqs, ttft_slo, tpot_slo),
                         "kv_bytes_moved": res.kv_bytes_moved, "simulated_seconds": span,
                         "slo_met_per_second": (slo_attainment(res.seqs, ttft_slo, tpot_slo) * len(res.seqs) / span
                                                if span > 0 else 0.0),
                         "transfer_p50": percentile(moved, 50), "transfer_p99": percentile(moved, 99),
                         "wall_seconds": res.wall_seconds}
    for name, xs in (("ttft", ttft), ("tpot", tpot), ("e2e", e2e)):
        for q in (50, 90, 99):
            d[f"{name}_p{q}"] = percentile(xs, q)
    return d


def queue_lengths(res: DisaggResult, times: Sequence[float]) -> dict[str, list[int]]:
    """At each time: requests waiting or prefilling, on the wire, and decoding (the two pools'
    queues over time)."""
    import numpy as np

    t = np.asarray(times, dtype=float)
    arr = np.array([r.arrival for r in res.requests])
    pe = np.array([p if p is not None else np.inf for p in res.prefill_end])
    te = np.array([x if x is not None else p for x, p in zip(res.transfer_end, pe)])
    fin = np.array([s.finish_time if s.finish_time is not None else -np.inf for s in res.seqs])
    keep = fin > -np.inf
    arr, pe, te, fin = arr[keep], pe[keep], te[keep], fin[keep]

    def count(lo, hi):
        return (np.searchsorted(np.sort(lo), t, "right") - np.searchsorted(np.sort(hi), t, "right")).tolist()

    return {"time": list(times), "prefill": count(arr, pe), "transfer": count(pe, te), "decode": count(te, fin)}
