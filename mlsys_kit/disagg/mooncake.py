"""Mooncake's two ideas on top of the disaggregated simulator: a shared KV pool, early rejection.

Mooncake (Qin et al., FAST'25):

* **KV pool** (sections 3-4, "KVCache-centric" design): the prefix KV caches that prefill
  instances computed are kept in a pool shared by all instances (host DRAM/SSD across the
  cluster), so a request whose prompt starts with a prefix *any* instance computed fetches
  that prefix's KV over the network instead of recomputing it. :func:`plan_prefix_reuse`
  compares three modes, counting tokens recomputed, reused from the local cache and fetched
  (transferred) from the pool: ``none`` (no reuse), ``local`` (each instance keeps its own
  LRU prefix cache, vLLM's automatic prefix caching: a hit needs the same instance) and
  ``pool`` (local first, then the shared pool). Reuse is in whole blocks, as in vLLM.
* **Early rejection** (section 7, "overload-oriented scheduling"): under overload, reject a
  request at arrival when the *predicted* load would break its SLOs, instead of prefilling it
  and then finding no room to decode it in time (wasted prefill). :func:`early_reject`
  predicts each prefill queue from the cost model and the decode load at the time the request
  would reach the decode pool from the requests already accepted (the outputs' lengths are
  taken as known: an oracle Mooncake replaces with a predictor).

A rejected request counts as an SLO miss in :func:`~mlsys_kit.disagg.simulate.slo_attainment`.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from typing import Any, Sequence

from mlsys_kit.checks import nonneg_int, one_of, positive_int
from mlsys_kit.disagg.simulate import DisaggResult, Hardware, Link, Pool, simulate_disagg
from mlsys_kit.serving.metrics import meets_slo
from mlsys_kit.serving.sequence import REJECTED, Seq
from mlsys_kit.serving.workload import LengthDist, Request, make_workload

REUSE_MODES = ("none", "local", "pool")


def prefix_workload(n: int, rate: float, prefixes: int = 16, prefix_len: int = 1024,
                    suffix: LengthDist = LengthDist("lognormal", 64, 1, 512, 0.8),
                    output: LengthDist = LengthDist("lognormal", 64, 2, 256, 0.8),
                    seed: int = 0) -> tuple[list[Request], list[int]]:
    """Requests that share long prefixes (a document or a conversation's history, Mooncake's
    long-context traces): each takes one of ``prefixes`` prefixes (uniformly) of ``prefix_len``
    tokens plus its own suffix. Returns (requests, prefix id per request)."""
    positive_int("prefixes", prefixes)
    positive_int("prefix_len", prefix_len)
    base = make_workload(n, rate, suffix, output, seed=seed)
    rng = random.Random(seed + 7)
    ids = [rng.randrange(prefixes) for _ in base]
    reqs = [Request(r.rid, r.arrival, r.prompt_len + prefix_len, r.output_len) for r in base]
    return reqs, ids


def plan_prefix_reuse(requests: Sequence[Request], prefix_ids: Sequence[int], prefix_len: int, instances: int,
                      mode: str, hw: Hardware, link: Link, local_capacity: int = 2) -> dict[str, Any]:
    """Decide, per request in arrival order (round-robin instances), how many prompt tokens are
    recomputed, reused locally, or fetched from the pool; a fetch delays the prefill by the
    transfer. Returns ``compute_tokens``, ``ready``, ``instance`` (for
    :func:`~mlsys_kit.disagg.simulate.simulate_disagg`) and the token counters."""
    one_of("reuse mode", mode, REUSE_MODES)
    positive_int("instances", instances)
    nonneg_int("local_capacity", local_capacity)
    if len(prefix_ids) != len(requests):
        raise ValueError(f"prefix_ids needs one entry per request: got {len(prefix_ids)} for {len(requests)}")
    local = [OrderedDict() for _ in range(instances)]  # LRU of prefix ids per instance
    pool: set[int] = set()
    compute, ready, inst = [], [], []
    recomputed = reused = fetched = 0
    for k, (r, pid) in enumerate(zip(requests, prefix_ids)):
        i = k % instances
        usable = min(prefix_len // hw.block_size * hw.block_size, r.prompt_len - 1)
        start, hit = r.arrival, 0
        if mode != "none" and pid in local[i]:
            local[i].move_to_end(pid)
            hit, reused = usable, reused + usable
        elif mode == "pool" and pid in pool:
            hit, fetched = usable, fetched + usable
            start += link.seconds(usable * hw.kv_bytes_per_token)
        if mode != "none" and local_capacity:  # this instance now holds the prefix (LRU)
            local[i][pid] = True
            local[i].move_to_end(pid)
            while len(local[i]) > local_capacity:
                local[i].popitem(last=False)
        pool.add(pid)
        compute.append(r.prompt_len - hit)
        recomputed += r.prompt_len - hit
        ready.append(start)
        inst.append(i)
    return {"compute_tokens": compute, "ready": ready, "instance": inst, "tokens_recomputed": recomputed,
            "tokens_reused_local": reused, "tokens_transferred_from_pool": fetched,
            "pool_bytes_transferred": fetched * hw.kv_bytes_per_token}


def early_reject(requests: Sequence[Request], prefill: Pool, decode: Pool, hw: Hardware, link: Link,
                 ttft_slo: float, tpot_slo: float) -> set[int]:
    """Indices of the requests to reject at arrival: predicted TTFT (the prefill queue of its
    instance, priced by the cost model, plus the transfer) over ``ttft_slo``, or predicted TPOT
    at the decode load it would join (accepted requests decoding then, shared by the decode
    instances) over ``tpot_slo``, or that load's KV over the decode pool's blocks."""
    cp, cd = hw.cost_at(prefill.tp), hw.cost_at(decode.tp)
    capacity = hw.blocks_at(decode.tp) * hw.block_size * decode.instances
    busy = [0.0] * prefill.instances
    active: list[tuple[float, float, int]] = []  # (decode start, decode end, KV tokens) of accepted requests
    rejected, k = set(), 0
    for idx, r in enumerate(requests):
        i = k % prefill.instances
        end = max(r.arrival, busy[i]) + cp.time(r.prompt_len, 0, r.prompt_len)
        land = end + (link.seconds(r.prompt_len * hw.kv_bytes_per_token) if r.output_len > 1 else 0.0)
        active = [a for a in active if a[1] > r.arrival]
        there = [a for a in active if a[0] <= land < a[1]]
        per_instance = len(there) / decode.instances + 1
        tokens = sum(a[2] for a in there) + r.prompt_len + r.output_len
        context = tokens / decode.instances
        tpot = cd.time(0, round(per_instance), round(context))
        if land - r.arrival > ttft_slo or (r.output_len > 1 and (tpot > tpot_slo or tokens > capacity)):
            rejected.add(idx)
            continue
        busy[i], k = end, k + 1
        active.append((land, land + (r.output_len - 1) * tpot, r.prompt_len + r.output_len))
    return rejected


def simulate_mooncake(requests: Sequence[Request], prefill: Pool, decode: Pool, link: Link, hw: Hardware,
                      ttft_slo: float, tpot_slo: float, reject: bool = False,
                      prefix_ids: Sequence[int] | None = None, prefix_len: int = 0, reuse: str = "none",
                      local_capacity: int = 2) -> tuple[DisaggResult, dict[str, Any]]:
    """Disaggregated serving with Mooncake's early rejection and/or KV pool. Returns the result
    over ALL requests (rejected ones never finish) and the counters: rejected, tokens
    recomputed / reused / transferred, and ``wasted_prefill_tokens`` (prefilled for requests
    that then missed an SLO)."""
    drop = early_reject(requests, prefill, decode, hw, link, ttft_slo, tpot_slo) if reject else set()
    keep = [i for i in range(len(requests)) if i not in drop]
    sub = [requests[i] for i in keep]
    stats: dict[str, Any] = {"rejected": len(drop)}
    kw: dict[str, Any] = {}
    if reuse != "none" or prefix_ids is not None:
        if prefix_ids is None:
            raise ValueError("prefix reuse needs prefix_ids (see prefix_workload)")
        plan = plan_prefix_reuse(sub, [prefix_ids[i] for i in keep], positive_int("prefix_len", prefix_len),
                                 prefill.instances, reuse, hw, link, local_capacity)
        kw = {k: plan.pop(k) for k in ("compute_tokens", "ready", "instance")}
        stats.update(plan)
    res = simulate_disagg(sub, prefill, decode, link, hw, **kw) if sub else None
    seqs, pe, te = [], [], []
    pos = {i: j for j, i in enumerate(keep)}
    for i, r in enumerate(requests):
        if i in pos:
            j = pos[i]
            seqs.append(res.seqs[j])
            pe.append(res.prefill_end[j])
            te.append(res.transfer_end[j])
        else:
            s = Seq(r, i, with_tokens=False)
            s.status = REJECTED
            s.events.append((r.arrival, REJECTED.value))
            seqs.append(s)
            pe.append(None)
            te.append(None)
    computed = kw.get("compute_tokens", [r.prompt_len for r in sub])
    stats["wasted_prefill_tokens"] = sum(c for c, j in zip(computed, keep)
                                         if not meets_slo(seqs[j], ttft_slo, tpot_slo))
    out = DisaggResult(list(requests), seqs, pe, te, res.kv_bytes_moved if res else 0,
                       prefill.devices + decode.devices, set(drop), res.wall_seconds if res else 0.0)
    return out, stats
