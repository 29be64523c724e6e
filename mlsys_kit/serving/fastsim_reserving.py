"""The simulator's fast path for the two reserving baselines (static and continuous batching),
with no walk of the batch at all: O(1) work per iteration record, per-request facts at the end.

The teaching path is :func:`mlsys_kit.serving.simulator.simulate` with
:class:`~mlsys_kit.serving.baselines.StaticScheduler` (request-level batching, the baseline of
Orca, OSDI'22, section 2.2) and :class:`~mlsys_kit.serving.baselines.ContinuousScheduler`
(Orca's iteration-level scheduling, section 3.1, KV reserved for a request's whole life,
section 4.2). Neither ever preempts, so a running request gets one token every iteration from
its prefill to its last token, and a batch is known by four sums:

* the prompt tokens admitted this iteration, the decode rows, the context tokens
  (the sum of computed tokens grows by the decode rows every iteration), and the padding rows;
* when each request finishes (a heap of "iteration count at which it has all its tokens"),
  which bounds the fast-forward over identical decode iterations exactly as
  :func:`~mlsys_kit.serving.simulator.steady_steps` does.

Each iteration record also keeps its largest gap between two tokens (the same float
subtractions the engine makes); at the end, each request's times, its largest gap (the max
over the records of its life) and every record's KV blocks in use (tokens per request from the
iteration counts) are filled in with numpy. The result is the teaching path's
:class:`~mlsys_kit.serving.engine.ServeResult` bit for bit:
``tests/serving/test_serving_fastsim.py``.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Sequence

from mlsys_kit.common import ceil_div
from mlsys_kit.serving.engine import IterationRecord, ServeResult
from mlsys_kit.serving.sequence import FINISHED, Seq
from mlsys_kit.serving.simulator import CostModel, decode_clock
from mlsys_kit.serving.workload import Request


def simulate_reserving(requests: Sequence[Request], static: bool, num_blocks: int, block_size: int,
                       max_num_seqs: int, max_model_len: int | None, cost: CostModel) -> ServeResult:
    """Static (``static=True``) or continuous batching on the simulator, fast-forward on: the
    teaching path's result (see the module docstring). Arguments already checked by the caller."""
    seqs = [Seq(r, i, with_tokens=False) for i, r in enumerate(requests)]
    total = len(seqs)
    arrival = [s.arrival for s in seqs]
    prompt = [s.prompt_len for s in seqs]
    out_len = [s.output_len for s in seqs]
    tokens = [max_model_len if max_model_len is not None else p + o for p, o in zip(prompt, out_len)]
    records: list[IterationRecord] = []
    rec_count: list[int] = []  # iterations done when each record started
    rec_gap: list[float] = []  # each record's largest gap between two tokens of a request in it
    admit_rec, own_end_rec, end_rec = [0] * total, [0] * total, [0] * total
    first, own_end, end_time = [0.0] * total, [0.0] * total, [0.0] * total
    waiting: deque[int] = deque()
    heap: list[tuple[int, int]] = []  # (iteration count at which it has all its tokens, request)
    batch_members: list[int] = []  # static: the batch being run (finished rows stay as padding)
    now, nxt, count = 0.0, 0, 0
    running = reserved = computed = padding = 0  # computed: tokens with K/V of the running requests
    while nxt < total or waiting or running:
        while nxt < total and arrival[nxt] <= now:
            waiting.append(nxt)
            nxt += 1
        if not waiting and not running:
            now = arrival[nxt]
            continue
        admitted = []
        if static and not running:  # form a batch while its rectangle fits
            longest_p = longest_o = 0
            while waiting and running < max_num_seqs:
                h = waiting[0]
                p, o = max(longest_p, prompt[h]), max(longest_o, out_len[h])
                width = max(p + o, max_model_len or 0)
                if running and (running + 1) * ceil_div(width, block_size) > num_blocks:
                    break
                longest_p, longest_o = p, o
                admitted.append(waiting.popleft())
                running += 1
            batch_members, padding = list(admitted), 0
        elif not static:
            while waiting and running < max_num_seqs:
                need = ceil_div(tokens[waiting[0]], block_size)
                if reserved + need > num_blocks:
                    break
                reserved += need
                admitted.append(waiting.popleft())
                running += 1
        prefill = sum(prompt[i] for i in admitted)
        decode = running - len(admitted) + padding
        context = computed + prefill + running - len(admitted)
        start = now
        rec_count.append(count)
        limit = heap[0][0] - count if heap and not admitted else 0
        if limit > 1:  # an all-decode batch: jump over the identical iterations
            watch = not static and not waiting and nxt < total  # static: nothing joins a running batch
            now, steps, first_end, later_gap = decode_clock(cost, now, decode, context, decode - padding, limit,
                                                            arrival[nxt] if watch else None)
            gap = max(first_end - start, later_gap)  # the record's largest gap between two tokens
            records.append(IterationRecord(start, now, steps, 0, decode, context, 0, padding))
            computed += (decode - padding) * steps
            count += steps
        else:
            for i in admitted:
                seqs[i].events.append((now, "prefill"))
            now += cost.time(prefill, decode, context) + cost.e * 0
            gap = now - start
            records.append(IterationRecord(start, now, 1, prefill, decode, context, 0, padding))
            computed += prefill + running - len(admitted)
            for i in admitted:
                admit_rec[i], first[i] = len(records) - 1, now
                heapq.heappush(heap, (count + out_len[i], i))
            count += 1
        rec_gap.append(gap)
        while heap and heap[0][0] == count:  # requests with all their tokens
            i = heapq.heappop(heap)[1]
            own_end_rec[i], own_end[i] = len(records) - 1, now
            computed -= prompt[i] + out_len[i] - 1
            running -= 1
            if static:
                padding += 1
            else:
                reserved -= ceil_div(tokens[i], block_size)
                end_rec[i], end_time[i] = len(records) - 1, now
        if static and batch_members and not running:  # the batch ends: every response returns
            for i in batch_members:
                end_rec[i], end_time[i] = len(records) - 1, now
            batch_members, padding = [], 0
    return _finish(seqs, records, rec_count, rec_gap, admit_rec, own_end_rec, end_rec, first, own_end, end_time,
                   block_size, num_blocks, "static" if static else "continuous", now)


def _finish(seqs, records, rec_count, rec_gap, admit_rec, own_end_rec, end_rec, first, own_end, end_time,
            block_size, num_blocks, name, now) -> ServeResult:
    """Per request: times, events, largest gap; per record: KV blocks in use when it started."""
    import numpy as np

    total = len(seqs)
    a = np.array(admit_rec, dtype=np.int64)
    own = np.array(own_end_rec, dtype=np.int64)
    end = np.array(end_rec, dtype=np.int64)
    counts = np.array(rec_count, dtype=np.int64)
    gaps = np.array(rec_gap, dtype=np.float64)
    # the records after a request's prefill record while it holds KV (up to its batch's end)
    held = end - a
    owner = np.repeat(np.arange(total), held)
    rec = np.repeat(a + 1, held) + (np.arange(held.sum()) - np.repeat(np.cumsum(held) - held, held))
    p = np.array([s.prompt_len for s in seqs], dtype=np.int64)
    o = np.array([s.output_len for s in seqs], dtype=np.int64)
    held_tokens = p[owner] + np.minimum(counts[rec] - counts[a[owner]] - 1, o[owner] - 1)
    kv_used = np.bincount(rec, weights=(held_tokens + block_size - 1) // block_size, minlength=len(records))
    # each request's largest gap: over the records after its prefill up to its last token
    lived = own - a
    max_gap = np.zeros(total)
    live = (rec <= own[owner])
    if live.any():
        vals = gaps[rec[live]]
        who = owner[live]
        starts = np.flatnonzero(np.r_[True, who[1:] != who[:-1]])
        max_gap[who[starts]] = np.maximum(np.maximum.reduceat(vals, starts), 0.0)
    out = ServeResult(name, seqs, num_blocks=num_blocks, real=False)
    out.records = [r._replace(kv_used=int(k)) for r, k in zip(records, kv_used)]
    gaps_l = max_gap.tolist()
    for i, s in enumerate(seqs):
        s.num_generated = s.output_len
        s.num_computed = s.prompt_len + s.output_len - 1
        s.first_token_time = first[i]
        s.last_token_time = own_end[i]
        s.max_gap = gaps_l[i] if lived[i] > 0 else 0.0
        s.status = FINISHED
        s.events.append((first[i], "decode"))
        if end_time[i] != own_end[i]:  # a static row padded until its batch's longest request ended
            s.events.append((own_end[i], "padding"))
        s.events.append((end_time[i], "finished"))
        s.finish_time = end_time[i]
    out.simulated_seconds = now
    return out
