"""The two baselines the papers measure against, beside the teaching path (:mod:`~mlsys_kit.serving.scheduler`;
they need none of it: both subclass the interface, :class:`~mlsys_kit.serving.interface.BaseScheduler`).

Both reserve a request's KV for its whole life at admission, so they never preempt.

* ``static`` (:class:`StaticScheduler`): request-level batching as FasterTransformer does it,
  the baseline of Orca (OSDI'22) section 2.2: a batch is formed only when the engine is idle
  and runs until its last request finishes; finished requests keep their (computed) rows and
  all responses return at the batch's end.
* ``continuous`` (:class:`ContinuousScheduler`): Orca's iteration-level scheduling (section
  3.1): new requests join at any iteration, finished ones leave at once; like Orca it
  *reserves* KV for a request's whole prompt + output at admission (section 4.2).

Which tests compare them (``tests/serving/test_serving_scheduler.py``):
``test_continuous_beats_static_throughput_and_latency`` (Orca section 6: continuous serves
> 1.4x the tokens/s of static at a lower p50), ``test_invariants_on_random_traces`` (static's
padding rows, no preemption under reservation) and ``test_preemption_keeps_a_full_cache_from_stalling``
(vLLM section 4.5: paging with preemption beats Orca's whole-context reservation). Build them
by name with :func:`mlsys_kit.serving.registry.make_scheduler` (``"static"``, ``"continuous"``).
"""

from __future__ import annotations

from mlsys_kit.checks import positive_int
from mlsys_kit.common import ceil_div
from mlsys_kit.serving.interface import Batch, BaseScheduler
from mlsys_kit.serving.kv import KVSpace
from mlsys_kit.serving.sequence import FINISHED, Seq


class _Reserving(BaseScheduler):
    """Static and Orca-style batching reserve a request's KV for its whole life at admission:
    ``max_model_len`` tokens (Orca does not know output lengths), or prompt + output if None."""

    def __init__(self, kv: KVSpace, max_num_seqs: int = 64, token_budget: int | None = None,
                 max_model_len: int | None = None) -> None:
        super().__init__(kv, max_num_seqs, token_budget)
        self.max_model_len = None if max_model_len is None else positive_int("max_model_len", max_model_len)
        self.reserved = 0  # blocks promised to running requests

    def _blocks(self, seq: Seq) -> int:
        tokens = self.max_model_len if self.max_model_len is not None else seq.prompt_len + seq.output_len
        return (tokens + self.kv.block_size - 1) // self.kv.block_size

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
    steady_decodes = "fixed_batch"  # nothing joins a running batch

    def __init__(self, kv: KVSpace, max_num_seqs: int = 64, token_budget: int | None = None,
                 max_model_len: int | None = None) -> None:
        super().__init__(kv, max_num_seqs, token_budget, max_model_len)
        self.padding: list[Seq] = []  # finished requests whose rows the batch still computes

    def schedule(self) -> Batch:
        if not self.running:  # form a batch: FCFS while the rectangle fits
            bs, limit = self.kv.block_size, self.kv.max_seq_len
            longest_prompt = longest_output = width = 0  # width: tokens per seat
            while self.waiting and len(self.running) < self.max_num_seqs:
                head = self.waiting[0]
                prompt, out = max(longest_prompt, head.prompt_len), max(longest_output, head.output_len)
                tokens = max(prompt + out, self.max_model_len or 0)
                if self.running and (limit is not None and prompt + out > limit
                                     or (len(self.running) + 1) * ceil_div(tokens, bs) > self.kv.num_blocks):
                    break
                longest_prompt, longest_output, width = prompt, out, tokens
                self.admit(head)
            self.reserved = len(self.running) * ceil_div(width, bs)
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


class ContinuousScheduler(_Reserving):
    """Orca: iteration-level admission, KV reserved for the request's whole life at admission."""

    name = "continuous"
    steady_decodes = "reserved"  # the queue's head waits for a seat or a reservation until a request finishes

    def schedule(self) -> Batch:
        while self.waiting and len(self.running) < self.max_num_seqs:
            need = self._blocks(self.waiting[0])
            if self.reserved + need > self.kv.num_blocks:
                break
            self.reserved += need
            self.admit(self.waiting[0])
        return [(s, s.num_uncomputed) for s in self.running]


