"""The simulator's fast path, beside the teaching path ("naive first, then fast").

The teaching path is :func:`mlsys_kit.serving.simulator.simulate`: Orca's loop (OSDI'22,
section 3.1) in :func:`mlsys_kit.serving.engine.serve`, three calls per iteration (schedule,
run on :class:`~mlsys_kit.serving.simulator.SimBackend`, postprocess), each walking the batch,
and the KV view a real block allocator. :func:`simulate_fast` runs the same schedulers (the
very objects of :mod:`~mlsys_kit.serving.registry`) through the same loop with the same cost
model (Vidur-style, MLSys'24 section 4) and returns the same :class:`ServeResult`, bit for bit,
at about twice the speed, for the lecture widget's redraw budget. What it changes:

* :class:`CountKV`: block *counts* per sequence instead of block ids. A scheduler asks only
  how many blocks are free and how many an append would take (vLLM, SOSP'23, section 4.5), so
  the counts decide exactly as the allocator's lists do; no ids are handed out.
* one walk of the batch per iteration: the batch shape (prefill tokens, decode rows, context)
  in one pass, and the KV append fused with the postprocess (sample, times, finish) in another;
* the fast-forward over identical decode iterations as in ``SimBackend.fast_forward``
  (:func:`~mlsys_kit.serving.simulator.steady_steps`, the numpy clock of long runs), with its
  per-sequence walks fused into one.

Equality with the teaching path: ``tests/serving/test_serving_fastsim.py`` (hypothesis: random
workloads, every scheduler, block shortages, swap, reservations; every request's times and
every iteration record compared exactly). Speed: ``benchmarks/serving_widget.py``.
"""

from __future__ import annotations

import functools
import time
from typing import Hashable, Sequence

from mlsys_kit.serving.config import SIMULATED, ServingConfig
from mlsys_kit.serving.engine import IterationRecord, ServeResult
from mlsys_kit.serving.fastsim_reserving import simulate_reserving
from mlsys_kit.serving.registry import make_scheduler
from mlsys_kit.serving.sequence import Seq
from mlsys_kit.serving.simulator import CostModel, decode_clock, steady_steps
from mlsys_kit.serving.workload import Request, validate_for_engine


class CountKV:
    """The simulator's KV view with block counts only: what :class:`~mlsys_kit.serving.kv.SimKV`
    answers (free blocks, blocks an append takes), without the allocator's block ids."""

    def __init__(self, num_blocks: int, block_size: int) -> None:
        if isinstance(num_blocks, bool) or not isinstance(num_blocks, int) or num_blocks < 1:
            raise ValueError(f"num_blocks must be a positive integer: got {num_blocks!r}")
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
            raise ValueError(f"block_size must be a positive integer: got {block_size!r}")
        self.block_size = block_size
        self.num_blocks = num_blocks
        self.num_free = num_blocks
        self.max_seq_len: int | None = None
        self.tokens: dict[Hashable, int] = {}

    def num_tokens(self, seq_id: Hashable) -> int:
        return self.tokens.get(seq_id, 0)

    def blocks_needed(self, seq_id: Hashable, num_new_tokens: int) -> int:
        t, bs = self.tokens.get(seq_id, 0), self.block_size
        return (t + num_new_tokens + bs - 1) // bs - (t + bs - 1) // bs

    def append(self, seq_id: Hashable, num_new_tokens: int) -> None:
        t, bs = self.tokens.get(seq_id, 0), self.block_size
        need = (t + num_new_tokens + bs - 1) // bs - (t + bs - 1) // bs
        if need > self.num_free:
            raise RuntimeError(f"append of {num_new_tokens} tokens to sequence {seq_id!r} needs {need} blocks, "
                               f"{self.num_free} of {self.num_blocks} are free")
        self.num_free -= need
        self.tokens[seq_id] = t + num_new_tokens

    def free(self, seq_id: Hashable) -> None:
        t = self.tokens.pop(seq_id, 0)
        self.num_free += (t + self.block_size - 1) // self.block_size

    def enable_swap(self, host_blocks: int) -> None:
        """Nothing to allocate: the simulator prices a swap, it moves no data."""

    def swap_out(self, seq_id: Hashable, host_table: list[int]) -> None:
        self.free(seq_id)

    def swap_in(self, seq_id: Hashable, host_table: list[int], num_tokens: int) -> None:
        self.append(seq_id, num_tokens)


@functools.lru_cache(maxsize=None)
def _fast_decodes(cls):
    """``cls`` (vllm's or chunked's scheduler) with ``schedule_decodes`` taking a short cut
    where it cannot preempt: when at least one block is free per running request, every decode
    gets its token (each takes at most one block) and the blocks taken are counted from the
    token counts; otherwise the teaching path's own method runs."""

    class Fast(cls):
        steady_decodes = cls.__dict__["steady_decodes"]  # schedules as cls does: the same promise

        def schedule_decodes(self, batch):
            kv, running = self.kv, self.running
            if kv.num_free < len(running):
                return super().schedule_decodes(batch)
            tokens, bs, taken, context, first = kv.tokens, kv.block_size, 0, 0, len(batch)
            for seq in running:
                generated, computed = seq.num_generated, seq.num_computed
                if generated > 0 and seq.prompt_len + generated - computed == 1:
                    batch.append((seq, 1))
                    context += computed + 1
                    if tokens.get(seq.rid, 0) % bs == 0:
                        taken += 1
            # the shape of these entries, so the engine loop walks only what is added after them
            self.decode_shape = (first, len(batch), context)
            return taken

    Fast.__name__ = Fast.__qualname__ = f"Fast{cls.__name__}"
    return Fast


def _make_scheduler(name: str, kv: CountKV, config: ServingConfig):
    """The scheduler of :func:`~mlsys_kit.serving.registry.make_scheduler`, vllm's and
    chunked's with the short cut of :func:`_fast_decodes`."""
    sched = make_scheduler(name, kv, config.max_num_seqs, config.token_budget, config.max_model_len,
                           config.swap_blocks)
    if name in ("vllm", "chunked"):
        fast = _fast_decodes(type(sched))
        sched.__class__ = fast
    return sched


def _jump(sched, kv: CountKV, cost: CostModel, batch, now: float, decode: int, context: int, padding_rows: int,
          next_arrival: float | None, seen: list[int]):
    """``SimBackend.fast_forward`` on a :class:`CountKV`, its walks of the batch fused."""
    swap = sched.swap
    changes = sched.num_preemptions + (swap.swap_ins if swap is not None else 0)
    changed, seen[0] = changes != seen[0], changes
    limit = min(s.output_len - s.num_generated for s, _ in batch)
    if limit <= 1:
        return None
    k, arrivals_matter = steady_steps(sched, batch, limit, changed)
    if k == 1:
        return None
    kv_used = kv.num_blocks - kv.num_free
    start = now
    watch = arrivals_matter and next_arrival is not None
    now, steps, first_end, later_gap = decode_clock(cost, now, decode, context, decode - padding_rows, k,
                                                    next_arrival if watch else None)
    tokens, bs, need, finished = kv.tokens, kv.block_size, 0, []
    for seq, _ in batch:
        rid = seq.rid
        t = tokens.get(rid, 0)
        need += (t + steps + bs - 1) // bs - (t + bs - 1) // bs
        tokens[rid] = t + steps
        seq.num_computed += steps
        seq.num_generated += steps
        gap = first_end - seq.last_token_time
        if later_gap > gap:
            gap = later_gap
        if gap > seq.max_gap:
            seq.max_gap = gap
        seq.last_token_time = now
        if seq.num_generated == seq.output_len:
            finished.append(seq)
    if need > kv.num_free:
        raise RuntimeError(f"fast-forward needs {need} blocks, {kv.num_free} are free")
    kv.num_free -= need
    return now, IterationRecord(start, now, steps, 0, decode, context, kv_used, padding_rows), finished


def simulate_fast(requests: Sequence[Request], scheduler: str, config: ServingConfig = SIMULATED,
                  cost: CostModel | None = None) -> ServeResult:
    """:func:`~mlsys_kit.serving.simulator.simulate` (fast-forward on, batch checks off), faster:
    the same :class:`ServeResult` bit for bit (see the module docstring)."""
    kv = CountKV(config.num_blocks, config.block_size)
    validate_for_engine(requests, kv, None, config.max_model_len, need_prompts=False)
    cost = cost or CostModel()
    sched = _make_scheduler(scheduler, kv, config)
    wall0 = time.perf_counter()
    if sched.name in ("static", "continuous"):  # no preemption: the O(1)-per-record path
        out = simulate_reserving(requests, sched.name == "static", kv.num_blocks, kv.block_size, sched.max_num_seqs,
                                 sched.max_model_len, cost)
        out.wall_seconds = time.perf_counter() - wall0
        return out
    seqs = [Seq(r, i, with_tokens=False) for i, r in enumerate(requests)]
    out = ServeResult(sched.name, seqs, num_blocks=kv.num_blocks, real=False)
    records = out.records
    ctime, e = cost.time, cost.e
    tokens, bs = kv.tokens, kv.block_size
    seen = [0]
    now, nxt, total = 0.0, 0, len(seqs)
    while nxt < total or sched.has_unfinished():
        while nxt < total and seqs[nxt].arrival <= now:
            sched.add(seqs[nxt])
            nxt += 1
        if not sched.has_unfinished():
            now = seqs[nxt].arrival
            continue
        sched.now = now
        sched.decode_shape = None
        batch = sched.schedule()
        if not batch:
            if nxt < total:
                now = max(now, seqs[nxt].arrival)
                continue
            raise RuntimeError("scheduler bug: empty batch with nothing left to arrive")
        padding = getattr(sched, "padding", ())
        npad = len(padding)
        prefill, decode, context = 0, npad, 0
        rest = batch
        if sched.decode_shape is not None and sched.decode_shape[0] == 0:  # decodes first, shape known
            _, ndec, context = sched.decode_shape
            decode += ndec
            rest = batch[ndec:]
        for seq, n in rest:  # the batch's shape (engine.batch_shape)
            computed = seq.num_computed
            context += computed + n
            generated = seq.num_generated
            if generated > 0 and seq.prompt_len + generated - computed == 1:
                decode += 1
            else:
                prefill += n
                if seq.events[-1][1] != "prefill":
                    seq.events.append((now, "prefill"))
        start, kv_used = now, kv.num_blocks - kv.num_free
        skipped = _jump(sched, kv, cost, batch, now, decode, context, npad,
                        seqs[nxt].arrival if nxt < total else None, seen) if prefill == 0 else None
        if skipped is None:
            swap = sched.swap
            now += ctime(prefill, decode, context) + e * (swap.tokens if swap is not None else 0)
            records.append(IterationRecord(start, now, 1, prefill, decode, context, kv_used, npad))
            finished, need = [], 0
            if rest is not batch:  # the decodes (known to be decoding, one token each) first
                for seq, _ in batch[:len(batch) - len(rest)]:
                    rid = seq.rid
                    t = tokens.get(rid, 0)
                    if t % bs == 0:
                        need += 1
                    tokens[rid] = t + 1
                    seq.num_computed += 1
                    generated = seq.num_generated = seq.num_generated + 1
                    if now - seq.last_token_time > seq.max_gap:
                        seq.max_gap = now - seq.last_token_time
                    seq.last_token_time = now
                    if generated == seq.output_len:
                        finished.append(seq)
            for seq, n in rest:  # the KV append (SimBackend.execute) and engine.postprocess
                rid = seq.rid
                t = tokens.get(rid, 0)
                need += (t + n + bs - 1) // bs - (t + bs - 1) // bs
                tokens[rid] = t + n
                seq.num_computed += n
                if seq.num_computed < seq.prompt_len + seq.num_generated:
                    continue
                seq.num_generated += 1
                if seq.first_token_time is None:
                    seq.first_token_time = now
                elif now - seq.last_token_time > seq.max_gap:
                    seq.max_gap = now - seq.last_token_time
                seq.last_token_time = now
                if seq.events[-1][1] == "prefill":
                    seq.events.append((now, "decode"))
                if seq.num_generated == seq.output_len:
                    finished.append(seq)
            if need > kv.num_free:
                raise RuntimeError(f"scheduler bug: the batch needs {need} blocks, {kv.num_free} are free")
            kv.num_free -= need
        else:
            now, record, finished = skipped
            records.append(record)
        for seq in finished:
            seq.finish_time = now
            seq.events.append((now, "finished"))
        for seq in finished:
            sched.finish(seq)
    out.simulated_seconds = now
    out.wall_seconds = time.perf_counter() - wall0
    return out
