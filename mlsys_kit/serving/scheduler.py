"""Four batch schedulers behind one interface: each iteration, pick (sequence, new tokens).

* ``static``: request-level batching (FasterTransformer style, the baseline of Orca section 2.2):
  a batch is formed only when the engine is idle and runs until its last request finishes;
  finished requests keep their (computed) rows and all responses return at the batch's end.
* ``continuous``: iteration-level scheduling (Orca, OSDI'22, section 3.1): new requests join at
  any iteration, finished ones leave at once; like Orca it *reserves* KV for a request's whole
  prompt + output at admission (section 4.2), so it never runs out of blocks.
* ``vllm``: admission by free KV blocks with preemption by recompute (vLLM, SOSP'23, section
  4.5): blocks are taken as tokens arrive; when a decode needs a block and none is free the
  newest running request is preempted (all-or-nothing eviction, FCFS kept). Prefill iterations
  run alone, as in vLLM: new prompts are prioritised and never mixed with decodes.
* ``chunked``: chunked prefill with stall-free batching (Sarathi-Serve, OSDI'24, sections
  4.1-4.2): every iteration has a token budget; decodes go first, then prompt chunks fill what
  is left, so a long prompt never stalls the decodes beside it.

A scheduler only decides; the engine runs the batch, then calls :meth:`Scheduler.finish` for
each request that completed. The KV view (:mod:`mlsys_kit.serving.kv`) is always backed by the
real block allocator.
"""

from __future__ import annotations

from collections import deque
from typing import Callable

from mlsys_kit.checks import positive_int
from mlsys_kit.kvcache.allocator import BlockAllocator
from mlsys_kit.serving.kv import KVSpace
from mlsys_kit.serving.sequence import FINISHED, RUNNING, WAITING, Seq

Batch = list[tuple[Seq, int]]


class Scheduler:
    """The interface: ``add`` arrived requests, ``schedule`` one iteration, ``finish`` the done."""

    name = "base"

    def __init__(self, kv: KVSpace, max_num_seqs: int = 64, max_num_batched_tokens: int = 2048) -> None:
        self.kv = kv
        self.max_num_seqs = positive_int("max_num_seqs", max_num_seqs)
        self.max_num_batched_tokens = positive_int("max_num_batched_tokens", max_num_batched_tokens)
        self.waiting: deque[Seq] = deque()
        self.running: list[Seq] = []
        self.now = 0.0
        self.preempted_last = False  # did the last schedule() preempt (or swap) anything?
        self.swapped: deque[Seq] = deque()  # swapped out to the host pool, oldest first
        self.host: BlockAllocator | None = None  # see enable_swap()
        self.swap_tokens = 0  # tokens moved between device and host by the last schedule()

    def enable_swap(self, host_blocks: int) -> None:
        """Preempt by *swapping* to a simulated host pool of ``host_blocks`` blocks (vLLM section
        4.5) while it has room, by recompute otherwise; swapped requests resume before any new
        admission. The simulator prices the copies; the real engine makes them."""
        self.host = BlockAllocator(positive_int("host_blocks", host_blocks), self.kv.block_size)
        self._host_tables: dict[int, list[int]] = {}
        self.kv.enable_swap(host_blocks)

    def add(self, seq: Seq) -> None:
        """A request has arrived: queue it (FCFS)."""
        seq.status = WAITING
        self.waiting.append(seq)

    def has_unfinished(self) -> bool:
        return bool(self.waiting or self.running or self.swapped)

    def schedule(self) -> Batch:
        """Pick this iteration's batch: (sequence, number of new tokens to feed) entries."""
        raise NotImplementedError

    def finish(self, seq: Seq) -> None:
        """The engine reports ``seq`` complete: drop it and release its KV blocks."""
        seq.status = FINISHED
        self.running.remove(seq)
        self.kv.free(seq.rid)

    def steady_steps(self, batch: Batch, limit: int) -> tuple[int, bool]:
        """How many iterations (<= ``limit``) in a row would schedule this same all-decode batch
        if no request arrived, and whether an arrival could change that. The simulator uses it
        to jump over identical iterations; ``(1, True)`` is always correct."""
        return 1, True

    # -- helpers shared by the schedulers ---------------------------------------------------
    def _admit(self, seq: Seq) -> None:
        self.waiting.popleft()
        seq.status = RUNNING
        self.running.append(seq)

    def _preempt(self, seq: Seq) -> None:
        """Preemption by recompute (vLLM section 4.5): free the blocks, resume from scratch;
        or by swap, if enabled and the host pool has room: the K/V move to the host."""
        self.running.remove(seq)
        self.preempted_last = True
        bs = self.kv.block_size
        held = (seq.num_computed + bs - 1) // bs
        if self.host is not None and held <= self.host.num_free:
            self._host_tables[seq.rid] = table = [self.host.allocate() for _ in range(held)]
            self.kv.swap_out(seq.rid, table)  # the K/V move to the host (copied on the real engine)
            self.swap_tokens += seq.num_computed
            seq.status = "swapped"
            seq.num_preemptions += 1
            seq.events.append((self.now, "preempted"))
            self.swapped.appendleft(seq)  # victims go newest first: the oldest ends up in front
            return
        self.kv.free(seq.rid)
        seq.num_computed = 0
        seq.num_preemptions += 1
        seq.status = WAITING
        seq.events.append((self.now, "preempted"))
        self.waiting.appendleft(seq)  # first in line again: FCFS order is kept

    def _swap_in(self) -> None:
        """Bring swapped requests back, oldest first, while their blocks (and one more token's) fit."""
        self.preempted_last, self.swap_tokens = False, 0
        while self.swapped and len(self.running) < self.max_num_seqs:
            seq = self.swapped[0]
            if self.kv.blocks_needed(seq.rid, seq.num_computed + 1) > self.kv.num_free:
                break
            self.swapped.popleft()
            table = self._host_tables.pop(seq.rid)
            self.kv.swap_in(seq.rid, table, seq.num_computed)  # the K/V come back
            for block in table:
                self.host.free(block)
            self.swap_tokens += seq.num_computed
            self.preempted_last = True
            seq.status = RUNNING
            seq.events.append((self.now, "decode" if seq.is_decoding else "prefill"))
            self.running.append(seq)

    def _schedule_decodes(self, batch: Batch) -> int:
        """Add one decode token for every decoding running sequence, oldest first, preempting
        the newest running sequence while blocks run short. Returns the blocks the batch takes."""
        kv, running = self.kv, self.running
        taken, free = 0, kv.num_free
        i = 0
        while i < len(running):
            seq = running[i]
            gen = seq.num_generated
            if not gen or seq.prompt_len + gen - seq.num_computed != 1:  # still prefilling
                i += 1
                continue
            need = kv.blocks_needed(seq.rid, 1)
            if need > free:
                while need > free and running[-1] is not seq:
                    self._preempt(running[-1])
                    free = kv.num_free - taken
                if need > free:
                    self._preempt(seq)  # it was the newest: preempt itself
                    break
            batch.append((seq, 1))
            taken += need
            free -= need
            i += 1
        return taken

    def _kv_steady(self, batch: Batch, limit: int) -> int:
        """Largest k <= limit such that k more tokens for every sequence of ``batch`` fit in
        the free blocks (binary search; each probe is O(batch))."""
        kv, free = self.kv, self.kv.num_free
        bs = kv.block_size
        if len(batch) * ((limit + bs - 1) // bs) <= free:  # each needs at most ceil(k/bs) blocks
            return limit

        def fits(k: int) -> bool:
            return sum(kv.blocks_needed(s.rid, k) for s, _ in batch) <= free

        if fits(limit):
            return limit
        lo, hi = 1, limit  # fits(lo) holds: the scheduler checked one step
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid)
        return lo


class _Reserving(Scheduler):
    """Static and Orca-style batching reserve a request's KV for its whole life at admission:
    ``max_model_len`` tokens (Orca does not know output lengths), or prompt + output if None."""

    def __init__(self, kv: KVSpace, max_num_seqs: int = 64, max_num_batched_tokens: int = 2048,
                 max_model_len: int | None = None) -> None:
        super().__init__(kv, max_num_seqs, max_num_batched_tokens)
        self.max_model_len = None if max_model_len is None else positive_int("max_model_len", max_model_len)
        self.reserved = 0  # blocks promised to running requests

    def _blocks(self, seq: Seq) -> int:
        tokens = self.max_model_len if self.max_model_len is not None else seq.prompt_len + seq.output_len
        return (tokens + self.kv.block_size - 1) // self.kv.block_size

    def _admit_reserved(self) -> None:
        while self.waiting and len(self.running) < self.max_num_seqs:
            need = self._blocks(self.waiting[0])
            if self.reserved + need > self.kv.num_blocks:
                break
            self.reserved += need
            self._admit(self.waiting[0])

    def finish(self, seq: Seq) -> None:
        super().finish(seq)
        self.reserved -= self._blocks(seq)


class StaticScheduler(_Reserving):
    """Request-level batching as FasterTransformer does it (the baseline of Orca, section 2.2).

    A batch is formed only when the engine is idle, FCFS, and its K/V are allocated as a
    rectangle: every seat holds ``max prompt + max output`` of the batch (at least
    ``max_model_len`` if given). Every iteration computes *every* seat: a request that has
    produced all its tokens keeps its row (:attr:`padding`; the engine runs it through the dense
    layers but not attention, as FasterTransformer's GEMMs and attention kernel do) until the
    batch's longest request ends, and only then do all responses return together
    (``finish_time`` is the batch's end; the token times stay those of the real tokens). Prompts
    are not padded (FasterTransformer 5's context phase removes padding)."""

    name = "static"

    def __init__(self, kv: KVSpace, max_num_seqs: int = 64, max_num_batched_tokens: int = 2048,
                 max_model_len: int | None = None) -> None:
        super().__init__(kv, max_num_seqs, max_num_batched_tokens, max_model_len)
        self.padding: list[Seq] = []  # finished requests whose rows the batch still computes

    def _admit_batch(self) -> None:
        bs, limit = self.kv.block_size, getattr(self.kv, "max_seq_len", None)
        longest_prompt = longest_output = width = 0  # width: tokens per seat
        while self.waiting and len(self.running) < self.max_num_seqs:
            head = self.waiting[0]
            prompt, out = max(longest_prompt, head.prompt_len), max(longest_output, head.output_len)
            tokens = max(prompt + out, self.max_model_len or 0)
            if self.running and (limit is not None and prompt + out > limit
                                 or (len(self.running) + 1) * ((tokens + bs - 1) // bs) > self.kv.num_blocks):
                break
            longest_prompt, longest_output, width = prompt, out, tokens
            self._admit(head)
        self.reserved = len(self.running) * ((width + bs - 1) // bs)

    def schedule(self) -> Batch:
        self.preempted_last = False
        if not self.running:
            self._admit_batch()
        return [(s, s.num_uncomputed) for s in self.running]

    def finish(self, seq: Seq) -> None:
        """``seq`` has all its tokens: its row keeps being computed until the batch ends, then
        every request of the batch returns at once and the rectangle is freed."""
        self.running.remove(seq)
        self.padding.append(seq)
        if self.running:
            return
        end = seq.finish_time
        for s in self.padding:
            s.status = FINISHED
            self.kv.free(s.rid)
            if s.finish_time != end:  # it waited, padded, for the batch's longest request
                s.events[-1] = (s.events[-1][0], "padding")
                s.events.append((end, "finished"))
                s.finish_time = end
        self.padding.clear()
        self.reserved = 0

    def steady_steps(self, batch: Batch, limit: int) -> tuple[int, bool]:
        return limit, False  # nothing joins a running static batch


class ContinuousScheduler(_Reserving):
    """Orca: iteration-level admission, KV reserved for the request's whole life at admission."""

    name = "continuous"

    def schedule(self) -> Batch:
        self.preempted_last = False
        self._admit_reserved()
        return [(s, s.num_uncomputed) for s in self.running]

    def steady_steps(self, batch: Batch, limit: int) -> tuple[int, bool]:
        # the queue head is blocked (seats or reservation) until a request finishes
        return limit, not self.waiting


class VLLMScheduler(Scheduler):
    """vLLM: prefill-first admission by free blocks; decodes preempt the newest on shortage."""

    name = "vllm"

    def schedule(self) -> Batch:
        self._swap_in()
        batch: Batch = []
        taken = tokens = 0
        while not self.swapped and self.waiting and len(self.running) < self.max_num_seqs:
            seq = self.waiting[0]
            n = seq.num_uncomputed
            need = self.kv.blocks_needed(seq.rid, n)
            too_many = batch and tokens + n > self.max_num_batched_tokens
            if too_many or need > self.kv.num_free - taken:
                break
            self._admit(seq)
            batch.append((seq, n))
            taken += need
            tokens += n
        if batch:
            return batch
        self._schedule_decodes(batch)
        return batch

    def steady_steps(self, batch: Batch, limit: int) -> tuple[int, bool]:
        if self.preempted_last:
            return 1, True
        # a blocked queue head stays blocked while blocks only get fewer
        return self._kv_steady(batch, limit), not self.waiting


class ChunkedScheduler(Scheduler):
    """Sarathi-Serve: a token budget per iteration, decodes first, then prompt chunks."""

    name = "chunked"

    def __init__(self, kv: KVSpace, max_num_seqs: int = 64, max_num_batched_tokens: int = 512) -> None:
        super().__init__(kv, max_num_seqs, max_num_batched_tokens)
        if max_num_batched_tokens < max_num_seqs:
            raise ValueError(f"the chunked token budget must cover one decode per running request: "
                             f"got budget {max_num_batched_tokens} < max_num_seqs {max_num_seqs}")

    def schedule(self) -> Batch:
        self._swap_in()
        batch: Batch = []
        taken = self._schedule_decodes(batch)
        budget = self.max_num_batched_tokens - len(batch)
        in_batch = {s.rid for s, _ in batch} if len(batch) < len(self.running) else None
        for seq in list(self.running) if in_batch is not None else ():  # ongoing prefills, oldest first
            if budget <= 0:
                break
            if seq.is_decoding or seq.status != RUNNING:
                continue
            n = min(seq.num_uncomputed, budget)
            need = self.kv.blocks_needed(seq.rid, n)
            while need > self.kv.num_free - taken and self.running[-1] is not seq \
                    and self.running[-1].rid not in in_batch:
                self._preempt(self.running[-1])  # a newer prefill gives way to an older one
            if need > self.kv.num_free - taken:
                break  # wait for the decodes to finish or preempt
            batch.append((seq, n))
            in_batch.add(seq.rid)
            taken += need
            budget -= n
        while budget > 0 and not self.swapped and self.waiting and len(self.running) < self.max_num_seqs:
            seq = self.waiting[0]
            if self.kv.blocks_needed(seq.rid, seq.num_uncomputed) > self.kv.num_free - taken:
                break  # admit only if the whole (re)prefill fits now
            n = min(seq.num_uncomputed, budget)
            self._admit(seq)
            batch.append((seq, n))
            taken += self.kv.blocks_needed(seq.rid, n)
            budget -= n
        return batch

    def steady_steps(self, batch: Batch, limit: int) -> tuple[int, bool]:
        if self.preempted_last or len(batch) != len(self.running):
            return 1, True
        return self._kv_steady(batch, limit), not self.waiting


SCHEDULERS: dict[str, Callable[..., Scheduler]] = {
    "static": StaticScheduler,
    "continuous": ContinuousScheduler,
    "vllm": VLLMScheduler,
    "chunked": ChunkedScheduler,
}


def make_scheduler(name: str, kv: KVSpace, max_num_seqs: int = 64, max_num_batched_tokens: int = 2048,
                   max_model_len: int | None = None, swap_blocks: int = 0) -> Scheduler:
    """The scheduler called ``name`` (one of static, continuous, vllm, chunked);
    ``max_model_len`` is the per-request reservation of static and continuous batching;
    ``swap_blocks`` > 0 makes vllm and chunked preempt by swapping to a host pool that size."""
    if name not in SCHEDULERS:
        raise ValueError(f"scheduler must be one of {', '.join(SCHEDULERS)}: got {name!r}")
    if name in ("static", "continuous"):
        if swap_blocks:
            raise ValueError(f"{name} batching never preempts: swap needs the vllm or chunked scheduler")
        return SCHEDULERS[name](kv, max_num_seqs, max_num_batched_tokens, max_model_len)
    sched = SCHEDULERS[name](kv, max_num_seqs, max_num_batched_tokens)
    if swap_blocks:
        sched.enable_swap(swap_blocks)
    return sched
