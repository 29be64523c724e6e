"""The real back-end: batches run on the tiny GPT through the paged KV cache.

:class:`RealBackend` is the ``run`` step of :func:`mlsys_kit.serving.engine.serve` on a real
model: each iteration's prefill chunks and decodes go through
:class:`~mlsys_kit.kvcache.runner.PagedModelRunner` in one forward pass (Orca's selective
batching, OSDI'22 section 4.2; vLLM's paged attention, SOSP'23 section 4.1) and are sampled
greedily (:func:`greedy`: one argmax over the sampled rows); its clock is the measured wall time,
or with ``clock="thread"`` the serving thread's CPU time (robust to other processes on a shared
machine; ``benchmarks/serving_real.py`` uses it). :class:`RunnerKV` is the KV view its scheduler
sees: the runner's own ``BlockManager`` (:class:`~mlsys_kit.serving.kv.KVSpace`). The
simulator's back-end, which prices iterations instead, is :mod:`mlsys_kit.serving.simulator`;
``tests/serving/test_serving_real.py`` checks that both run the same schedules.
"""

from __future__ import annotations

import time
from typing import Any, Hashable, Sequence

from mlsys_kit.serving.interface import Batch
from mlsys_kit.serving.sequence import Seq
from mlsys_kit.serving.swap import HostKV


# the iteration clock: wall time, or the CPU time of the calling thread (with one torch thread all of
# an iteration's compute runs there, so time slices the OS gives other processes on a shared
# machine are not counted as serving time; on an idle machine the two agree)
CLOCKS = {"wall": time.perf_counter, "thread": time.thread_time}


class RealBackend:
    """Runs batches on the tiny GPT through the paged KV cache; greedy decoding; an iteration's
    seconds from ``clock``: ``"wall"`` (``time.perf_counter``) or ``"thread"`` (the calling
    thread's CPU time, ``time.thread_time``: needs one torch thread)."""

    real = True

    def __init__(self, model: Any, num_blocks: int = 256, block_size: int = 16, split_mixed: bool = False,
                 clock: str = "wall") -> None:
        import torch

        from mlsys_kit.kvcache.runner import PagedModelRunner

        if clock not in CLOCKS:
            raise ValueError(f"clock must be one of {sorted(CLOCKS)}: got {clock!r}")
        if clock == "thread" and torch.get_num_threads() != 1:
            raise ValueError(f"clock='thread' counts only the calling thread's CPU time: it needs "
                             f"torch.set_num_threads(1), got {torch.get_num_threads()} threads")
        self.clock = CLOCKS[clock]
        self.model = model
        self.runner = PagedModelRunner(model, num_blocks, block_size)
        self.kv = RunnerKV(self.runner)
        # run a mixed iteration as two passes, prompts then decodes (the runner pads every
        # sequence of a pass to its longest query run, which makes mixed passes slow on CPU)
        self.split_mixed = split_mixed

    def execute(self, batch: Batch, prefill: int, decode: int, context: int,
                swap_tokens: int = 0, padding: Sequence[Seq] = ()) -> tuple[float, dict[int, int]]:
        """Run one iteration; returns (seconds, {rid: sampled token} for sequences that sample).
        ``padding`` rows (finished requests a static batch still computes) really go through the
        dense layers, as in FasterTransformer's GEMMs, but not through attention. The seconds
        include the K/V copies of any swap the scheduler did for this iteration."""
        entries = [(s.rid, s.tokens[s.num_computed:s.num_computed + n]) for s, n in batch]
        sampling = [s.rid for s, n in batch if s.num_computed + n == s.length]
        clock = self.clock
        t0 = clock()
        if self.split_mixed and prefill and decode - len(padding):
            logits = self.runner.step([e for (s, _), e in zip(batch, entries) if not s.is_decoding])
            logits.update(self.runner.step([e for (s, _), e in zip(batch, entries) if s.is_decoding], len(padding)))
        else:
            logits = self.runner.step(entries, len(padding))
        sampled = greedy(logits, sampling)
        return clock() - t0 + self.kv.take_swap_seconds(), sampled


def greedy(logits: dict[Hashable, Any], rids: Sequence[int]) -> dict[int, int]:
    """Greedy sampling of the rows ``rids`` of a step's logits: one ``argmax`` over the rows
    stacked (a per-row ``int(row.argmax())`` costs a few torch calls per sequence, every
    iteration); the same token as each row's own argmax, ties included (the first maximum)."""
    import torch

    if not rids:
        return {}
    return dict(zip(rids, torch.stack([logits[r] for r in rids]).argmax(-1).tolist()))


class RunnerKV:
    """The real engine's KV view: the runner's BlockManager and allocator, read-only except
    :meth:`free` (the runner itself appends while running a step); swap copies live in
    :class:`~mlsys_kit.serving.swap.HostKV`.

    A scheduler that runs in another process (a student's, in the grader's sandbox) gets a
    mirror of this view carrying only ``_mirror_fields``: the block accounting, not the model
    (freeing blocks is bookkeeping; the K/V tensors stay where they are)."""

    _mirror_fields = ("manager", "allocator", "block_size", "num_blocks", "max_seq_len")

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.manager = runner.manager
        self.allocator = runner.allocator
        self.block_size = self.allocator.block_size
        self.num_blocks = self.allocator.num_blocks
        self.max_seq_len: int | None = runner.model.config.n_positions
        self.host: HostKV | None = None  # a HostKV once enable_swap() made the host pool

    @property
    def num_free(self) -> int:
        return self.allocator.num_free

    def num_tokens(self, seq_id: Hashable) -> int:
        return self.manager.num_tokens(seq_id) if seq_id in self.manager else 0

    def blocks_needed(self, seq_id: Hashable, num_new_tokens: int) -> int:
        return self.manager.blocks_needed(seq_id, num_new_tokens)

    def free(self, seq_id: Hashable) -> None:
        if seq_id in self.manager:
            self.manager.free(seq_id)  # what PagedModelRunner.free does: a mirror has no runner

    def enable_swap(self, host_blocks: int) -> None:
        self.host = HostKV(self.runner, host_blocks)

    def swap_out(self, seq_id: Hashable, host_table: list[int]) -> None:
        if self.host is None:
            raise RuntimeError("swap_out before enable_swap: there is no host pool")
        self.host.swap_out(seq_id, host_table)

    def swap_in(self, seq_id: Hashable, host_table: list[int], num_tokens: int) -> None:
        self.host.swap_in(seq_id, host_table, num_tokens)

    def take_swap_seconds(self) -> float:
        """Seconds of K/V copies since the last call (the engine adds them to the iteration)."""
        return self.host.take_seconds() if self.host is not None else 0.0
