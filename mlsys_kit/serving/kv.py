"""The KV-cache view a scheduler sees: free blocks, blocks an append would take, release.

vLLM (Kwon et al., SOSP'23), section 4.5 "Scheduling and preemption": the scheduler admits
and preempts by counting *blocks* of the paged cache. Both back-ends give the scheduler the
same four things, always backed by the real :class:`~mlsys_kit.kvcache.allocator.BlockAllocator`:

* :class:`SimKV` (simulator): per-sequence block lists over a real ``BlockAllocator``; block
  counts are arithmetic on token counts, so appending k tokens costs O(new blocks), not O(k).
  It takes the same blocks as :class:`~mlsys_kit.kvcache.block_table.BlockManager` without
  copy-on-write or prefix caching (a test checks the two agree);
* :class:`~mlsys_kit.serving.real.RunnerKV` (real engine, beside the real back-end): the
  :class:`~mlsys_kit.kvcache.runner.PagedModelRunner`'s own ``BlockManager``; the runner
  appends while it runs a step, the scheduler only asks.
"""

from __future__ import annotations

from typing import Hashable, Protocol

from mlsys_kit.checks import positive_int
from mlsys_kit.common import ceil_div
from mlsys_kit.kvcache.allocator import BlockAllocator, OutOfBlocks


class KVSpace(Protocol):
    """What a scheduler may ask of the KV cache. ``max_seq_len`` is the longest sequence the
    model can hold (None: no limit). ``swap_out`` / ``swap_in`` move a sequence's K/V to and
    from host blocks (vLLM section 4.5, swapping) once :meth:`enable_swap` made a host pool."""

    block_size: int
    num_blocks: int
    max_seq_len: int | None

    @property
    def num_free(self) -> int: ...

    def blocks_needed(self, seq_id: Hashable, num_new_tokens: int) -> int: ...

    def num_tokens(self, seq_id: Hashable) -> int: ...

    def free(self, seq_id: Hashable) -> None: ...

    def enable_swap(self, host_blocks: int) -> None: ...

    def swap_out(self, seq_id: Hashable, host_table: list[int]) -> None: ...

    def swap_in(self, seq_id: Hashable, host_table: list[int], num_tokens: int) -> None: ...


class SimKV:
    """Block tables by arithmetic over a real :class:`BlockAllocator` (for the simulator)."""

    def __init__(self, num_blocks: int, block_size: int) -> None:
        self.allocator = BlockAllocator(positive_int("num_blocks", num_blocks), positive_int("block_size", block_size))
        self.block_size = block_size
        self.num_blocks = num_blocks
        self.max_seq_len: int | None = None
        self._blocks: dict[Hashable, list[int]] = {}
        self._tokens: dict[Hashable, int] = {}

    @property
    def num_free(self) -> int:
        return self.allocator.num_free

    def num_tokens(self, seq_id: Hashable) -> int:
        return self._tokens.get(seq_id, 0)

    def block_table(self, seq_id: Hashable) -> list[int]:
        return list(self._blocks.get(seq_id, ()))

    def blocks_needed(self, seq_id: Hashable, num_new_tokens: int) -> int:
        """New blocks that appending ``num_new_tokens`` tokens to ``seq_id`` would take."""
        t = self._tokens.get(seq_id, 0)
        bs = self.block_size
        return ceil_div(t + num_new_tokens, bs) - ceil_div(t, bs)

    def append(self, seq_id: Hashable, num_new_tokens: int) -> None:
        """Account ``num_new_tokens`` more tokens (a count, as ``BlockManager.append(seq_id, n)``); raises OutOfBlocks and changes nothing if
        the pool cannot hold them. (Hot path of the simulator: no argument checks.)"""
        t = self._tokens.get(seq_id, 0)
        bs = self.block_size
        need = ceil_div(t + num_new_tokens, bs) - ceil_div(t, bs)
        if need:
            alloc = self.allocator
            if need > alloc.num_free:
                raise OutOfBlocks(f"append of {num_new_tokens} tokens to sequence {seq_id!r} needs {need} blocks, "
                                  f"{alloc.num_free} of {self.num_blocks} are free")
            blocks = self._blocks.setdefault(seq_id, [])
            if need == 1:
                blocks.append(alloc.allocate())
            else:
                blocks.extend(alloc.allocate_many(need))
        self._tokens[seq_id] = t + num_new_tokens

    def free(self, seq_id: Hashable) -> None:
        """Release every block of ``seq_id`` (no-op for a sequence that holds none)."""
        self.allocator.free_many(self._blocks.pop(seq_id, [])[::-1])
        self._tokens.pop(seq_id, None)

    def enable_swap(self, host_blocks: int) -> None:
        """Nothing to allocate: the simulator prices a swap, it moves no data."""

    def swap_out(self, seq_id: Hashable, host_table: list[int]) -> None:
        self.free(seq_id)

    def swap_in(self, seq_id: Hashable, host_table: list[int], num_tokens: int) -> None:
        self.append(seq_id, num_tokens)
