"""Preemption by swapping, beside the core's preemption by recompute.

vLLM (Kwon et al., SOSP'23), section 4.5 "Scheduling and preemption", *swapping*: instead of
dropping a preempted request's K/V and recomputing them later, copy its blocks to a pool of
host (CPU) blocks and copy them back when the request resumes. Swapped requests resume, oldest
first, before any new admission. The core scheduler (:mod:`mlsys_kit.serving.scheduler`)
preempts by recompute; ``Scheduler.enable_swap(host_blocks)`` attaches a :class:`HostSwap`,
and its ``preempt`` then swaps while the host pool has room.

* :class:`HostSwap`: the scheduler's side: the host block allocator, the swapped queue, the
  tokens moved by the last ``schedule()`` (the simulator prices them with the cost model's ``e``);
* :class:`HostKV`: the real engine's side: the host tensor and the K/V copies of every layer.

Tested by ``tests/serving/test_serving_scheduler.py::test_swap_preemption_moves_kv_instead_of_recomputing``
(simulated) and ``tests/serving/test_serving_real.py`` (real copies: token-identical outputs).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Hashable

from mlsys_kit.checks import positive_int
from mlsys_kit.common import ceil_div
from mlsys_kit.kvcache.allocator import BlockAllocator
from mlsys_kit.serving.sequence import RUNNING, SWAPPED, Seq


class HostSwap:
    """The host pool of a scheduler: ``swap_out`` a preempted request, ``swap_in`` them back."""

    def __init__(self, sched: Any, host_blocks: int) -> None:
        self.sched = sched
        self.host = BlockAllocator(positive_int("host_blocks", host_blocks), sched.kv.block_size)
        self.tables: dict[Hashable, list[int]] = {}  # request -> its host blocks
        self.queue: deque[Seq] = deque()  # swapped out, oldest first
        self.tokens = 0  # tokens moved between device and host by the last schedule()
        self.swap_ins = 0  # requests brought back so far
        sched.kv.enable_swap(host_blocks)

    def swap_out(self, seq: Seq) -> bool:
        """Move a preempted request's K/V to the host, if the host pool has room for them."""
        held = ceil_div(seq.num_computed, self.sched.kv.block_size)
        if held > self.host.num_free:
            return False
        self.tables[seq.rid] = table = [self.host.allocate() for _ in range(held)]
        self.sched.kv.swap_out(seq.rid, table)  # the K/V move to the host (copied on the real engine)
        self.tokens += seq.num_computed
        seq.status = SWAPPED
        self.queue.appendleft(seq)  # victims go newest first: the oldest ends up in front
        return True

    def swap_in(self) -> bool:
        """Bring swapped requests back, oldest first, while their blocks (and one more token's)
        fit and seats are free. Starts the count of moved tokens for this schedule(); returns
        whether anything came back."""
        sched, kv = self.sched, self.sched.kv
        self.tokens = 0
        moved = False
        while self.queue and len(sched.running) < sched.max_num_seqs:
            seq = self.queue[0]
            if kv.blocks_needed(seq.rid, seq.num_computed + 1) > kv.num_free:
                break
            self.queue.popleft()
            table = self.tables.pop(seq.rid)
            kv.swap_in(seq.rid, table, seq.num_computed)  # the K/V come back
            for block in table:
                self.host.free(block)
            self.tokens += seq.num_computed
            self.swap_ins += 1
            moved = True
            seq.status = RUNNING
            seq.events.append((sched.now, "decode" if seq.is_decoding else "prefill"))
            sched.running.append(seq)
        return moved


class HostKV:
    """Host copies of the real engine's K/V blocks: ``[n_layer, 2, host_blocks, heads,
    block_size * head_dim]`` (the device cache's own block layout) in host memory (pinned when the cache lives on a GPU, so the copies can be DMA)."""

    def __init__(self, runner: Any, host_blocks: int) -> None:
        self.runner = runner
        store = runner.cache.kv[0]
        shape = (len(runner.cache.kv), 2, positive_int("host_blocks", host_blocks), *store.shape[2:])
        import torch

        self.host = torch.empty(shape, dtype=store.dtype, pin_memory=store.is_cuda)
        self.token_ids: dict[Hashable, list[int]] = {}
        self.seconds = 0.0  # time spent copying since the last take_seconds()

    def swap_out(self, seq_id: Hashable, host_table: list[int]) -> None:
        """Copy the sequence's K/V blocks into ``host_table``'s host blocks, then free them."""
        import torch

        manager = self.runner.manager
        table = manager.block_table(seq_id)
        if len(table) != len(host_table):
            raise ValueError(f"sequence {seq_id!r} holds {len(table)} blocks; the host table has {len(host_table)}")
        t0 = time.perf_counter()
        dev, host = torch.tensor(table, device=self.runner.cache.kv[0].device), torch.tensor(host_table)
        for layer, store in enumerate(self.runner.cache.kv):
            self.host[layer][:, host] = store[:, dev].to("cpu", non_blocking=True)
        self.token_ids[seq_id] = manager.token_ids(seq_id)
        self.runner.free(seq_id)
        self.seconds += time.perf_counter() - t0

    def swap_in(self, seq_id: Hashable, host_table: list[int], num_tokens: int) -> None:
        """Take blocks for the sequence again and copy its K/V back from ``host_table``."""
        import torch

        ids = self.token_ids.pop(seq_id)
        if len(ids) != num_tokens:
            raise ValueError(f"sequence {seq_id!r} was swapped out with {len(ids)} tokens, not {num_tokens}")
        t0 = time.perf_counter()
        self.runner.manager.append(seq_id, ids)
        dev = torch.tensor(self.runner.manager.block_table(seq_id), device=self.runner.cache.kv[0].device)
        host = torch.tensor(host_table)
        for layer, store in enumerate(self.runner.cache.kv):
            store[:, dev] = self.host[layer][:, host].to(store.device, non_blocking=True)
        self.seconds += time.perf_counter() - t0

    def take_seconds(self) -> float:
        s, self.seconds = self.seconds, 0.0
        return s
