"""Batch schedulers behind one interface: each iteration, pick (sequence, new tokens).

The teaching path (this file):

* :class:`Scheduler`: what both schedulers below share: preemption by recompute
  (:meth:`Scheduler.preempt`) and decodes first (:meth:`Scheduler.schedule_decodes`), on top
  of the interface every scheduler has (:class:`~mlsys_kit.serving.interface.BaseScheduler`:
  ``add`` arrived requests, ``schedule`` one iteration, ``finish`` the done, the queues).
* ``vllm``: admission by free KV blocks with preemption by recompute (vLLM, SOSP'23, section
  4.5): blocks are taken as tokens arrive; when a decode needs a block and none is free the
  newest running request is preempted (all-or-nothing eviction, FCFS kept). Prefill iterations
  run alone, as in vLLM: new prompts are prioritised and never mixed with decodes.
* ``chunked``: chunked prefill with stall-free batching (Sarathi-Serve, OSDI'24, sections
  4.1-4.2): every iteration has a token budget; decodes go first, then prompt chunks fill what
  is left (:meth:`ChunkedScheduler.schedule_prefills`), so a long prompt never stalls the
  decodes beside it.

A scheduler only decides; the engine runs the batch, then calls :meth:`Scheduler.finish` for
each request that completed. The KV view (:mod:`mlsys_kit.serving.kv`) is always backed by the
real block allocator. Lab 3 writes ``preempt``, ``schedule_decodes`` and ``schedule_prefills``.
Beside this file: the baselines ``static`` and ``continuous`` (Orca) in
:mod:`~mlsys_kit.serving.baselines`, preemption by swapping (:mod:`~mlsys_kit.serving.swap`)
and the simulator's fast-forward over identical iterations (:mod:`~mlsys_kit.serving.simulator`).
:func:`~mlsys_kit.serving.registry.make_scheduler` builds any of the four by name.
"""

from __future__ import annotations

from collections import deque

from mlsys_kit.serving.interface import Batch, BaseScheduler
from mlsys_kit.serving.kv import KVSpace
from mlsys_kit.serving.sequence import RUNNING, WAITING, Seq
from mlsys_kit.serving.swap import HostSwap


class Scheduler(BaseScheduler):
    """What vllm and chunked share: preemption by recompute (:meth:`preempt`) and decodes first
    (:meth:`schedule_decodes`); the queues, ``add``, ``admit`` and ``finish`` come from
    :class:`~mlsys_kit.serving.interface.BaseScheduler`."""

    swap: HostSwap | None

    def preempt(self, seq: Seq) -> None:
        """Preemption by recompute (vLLM section 4.5): free the blocks, resume from scratch, first
        in line again (FCFS is kept); by swap instead if :meth:`enable_swap` made a host pool
        and it has room (the K/V move to the host and come back before any new admission)."""
        self.running.remove(seq)
        seq.num_preemptions += 1
        self.num_preemptions += 1
        seq.events.append((self.now, "preempted"))
        if self.swap is not None and self.swap.swap_out(seq):
            return
        self.kv.free(seq.rid)
        seq.num_computed = 0  # prompt and generated tokens are prefilled again
        seq.status = WAITING
        self.waiting.appendleft(seq)

    def schedule_decodes(self, batch: Batch) -> int:
        """Add one decode token for every decoding running sequence, oldest first, preempting
        the newest running sequence while blocks run short. Returns the blocks the batch takes."""
        kv, running = self.kv, self.running
        taken, free = 0, kv.num_free  # free: blocks the batch has not taken yet
        i = 0
        while i < len(running):
            seq = running[i]
            if not seq.is_decoding:  # still prefilling
                i += 1
                continue
            need = kv.blocks_needed(seq.rid, 1)
            while need > free and running[-1] is not seq:
                self.preempt(running[-1])
                free = kv.num_free - taken
            if need > free:
                self.preempt(seq)  # it was the newest: preempt itself
                break
            batch.append((seq, 1))
            taken += need
            free -= need
            i += 1
        return taken

    # -- swap, beside the core (mlsys_kit.serving.swap) -----------------------------------
    def enable_swap(self, host_blocks: int) -> None:
        """Preempt by *swapping* to a host pool of ``host_blocks`` blocks while it has room."""
        self.swap = HostSwap(self, host_blocks)

    @property
    def swapped(self) -> deque[Seq]:
        """Requests swapped out to the host, oldest first."""
        return self.swap.queue if self.swap is not None else deque()

    @property
    def swap_tokens(self) -> int:
        """Tokens moved between device and host by the last schedule()."""
        return self.swap.tokens if self.swap is not None else 0


class VLLMScheduler(Scheduler):
    """vLLM: prefill-first admission by free blocks; decodes preempt the newest on shortage."""

    name = "vllm"
    steady_decodes = "kv_blocks"  # a decode batch repeats while blocks last and nobody is preempted

    def schedule(self) -> Batch:
        if self.swap is not None:
            self.swap.swap_in()
        batch: Batch = []
        taken = tokens = 0
        while (self.swap is None or not self.swap.queue) and self.waiting and len(self.running) < self.max_num_seqs:
            seq = self.waiting[0]
            n = seq.num_uncomputed
            need = self.kv.blocks_needed(seq.rid, n)
            if batch and tokens + n > self.token_budget or need > self.kv.num_free - taken:
                break
            self.admit(seq)
            batch.append((seq, n))
            taken += need
            tokens += n
        if not batch:  # no prompt to run: a decode iteration
            self.schedule_decodes(batch)
        return batch


class ChunkedScheduler(Scheduler):
    """Sarathi-Serve: a token budget per iteration, decodes first, then prompt chunks."""

    name = "chunked"
    steady_decodes = "kv_blocks"

    def __init__(self, kv: KVSpace, max_num_seqs: int = 64, token_budget: int | None = None) -> None:
        super().__init__(kv, max_num_seqs, token_budget)
        if self.token_budget < self.max_num_seqs:
            raise ValueError(f"the chunked token budget must cover one decode per running request: "
                             f"got budget {self.token_budget} < max_num_seqs {self.max_num_seqs}")

    def schedule(self) -> Batch:
        if self.swap is not None:
            self.swap.swap_in()
        batch: Batch = []
        taken = self.schedule_decodes(batch)
        self.schedule_prefills(batch, taken)
        return batch

    def schedule_prefills(self, batch: Batch, taken: int) -> None:
        """Fill what the decodes left of the token budget: first the ongoing prefills, oldest
        first (preempting newer running requests not in the batch if blocks run short), then
        admission FCFS, a request only if the blocks of its whole remaining prompt are free."""
        kv, running = self.kv, self.running
        budget = self.token_budget - len(batch)
        prefilling = len(batch) < len(running)  # some running requests are not decoding
        in_batch = {s.rid for s, _ in batch} if prefilling else set()
        for seq in list(running) if prefilling else ():  # ongoing prefills, oldest first
            if budget <= 0:
                break
            if seq.is_decoding or seq.status != RUNNING:
                continue
            n = min(seq.num_uncomputed, budget)
            need = kv.blocks_needed(seq.rid, n)
            while need > kv.num_free - taken and running[-1] is not seq and running[-1].rid not in in_batch:
                self.preempt(running[-1])  # a newer prefill gives way to an older one
            if need > kv.num_free - taken:
                break  # wait for the decodes to finish or preempt
            batch.append((seq, n))
            in_batch.add(seq.rid)
            taken += need
            budget -= n
        while budget > 0 and (self.swap is None or not self.swap.queue) and self.waiting \
                and len(running) < self.max_num_seqs:
            seq = self.waiting[0]
            if kv.blocks_needed(seq.rid, seq.num_uncomputed) > kv.num_free - taken:
                break  # admit only if the whole (re)prefill fits now
            n = min(seq.num_uncomputed, budget)
            self.admit(seq)
            batch.append((seq, n))
            taken += kv.blocks_needed(seq.rid, n)
            budget -= n
