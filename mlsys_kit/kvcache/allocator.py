"""Physical block allocator of a paged KV cache.

Follows PagedAttention (Kwon et al., SOSP'23, "Efficient Memory Management for Large Language
Model Serving with PagedAttention"), section 4.2 "KV Cache Manager": KV memory is a fixed
pool of ``num_blocks`` physical blocks of ``block_size`` token slots each, and a block may be
shared by several sequences (section 4.4, parallel sampling and beam search), so every block
carries a reference count.

Every operation is O(1):

* free blocks that hold nothing worth keeping sit on a stack ``free_list`` (the last one is
  handed out next);
* free blocks that still hold a cached prefix (section 4.4 "shared prefix", see
  :mod:`mlsys_kit.kvcache.prefix_cache`) sit in ``evictable``, an ordered dict in least
  recently freed order. They count as free: :meth:`allocate` takes a plain free block if
  there is one and evicts the least recently used cached block only when the pool needs it,
  telling the prefix cache through ``on_evict``; :meth:`revive` takes one back on a cache hit.

The simple face (what lab 2 writes) is ``allocate``, ``incref``, ``free``, ``refcount``,
``num_free``, ``check`` over ``refcounts`` and ``free_list``; beside it sit the bulk
operations of the simulator's hot path (``allocate_many``, ``free_many``) and the prefix
cache's LRU (``mark_cached``, ``uncache``, ``revive``, ``evictable``).

Errors are distinct classes so that a scheduler can catch :class:`OutOfBlocks` (and preempt
or wait) while a bug such as a double free is never mistaken for memory pressure.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable

from mlsys_kit.checks import positive_int


class KVCacheError(Exception):
    """Base class of every error of the paged KV cache."""


class OutOfBlocks(KVCacheError):
    """No free physical block is left (a scheduler catches this and preempts or waits)."""


class DoubleFree(KVCacheError):
    """A block was freed more times than it was referenced."""


class ForeignBlock(KVCacheError):
    """A block id that this allocator never handed out (not an int in [0, num_blocks))."""


class NotAllocated(KVCacheError):
    """A reference was added to, or a cache mark put on, a block that is currently free."""


class BlockAllocator:
    """A pool of ``num_blocks`` blocks of ``block_size`` token slots, with reference counts."""

    def __init__(self, num_blocks: int, block_size: int) -> None:
        self.num_blocks = positive_int("num_blocks", num_blocks)
        self.block_size = positive_int("block_size", block_size)
        self.refcounts = [0] * self.num_blocks
        # pop() from the end: block 0 is handed out first, which makes pictures easy to read
        self.free_list: list[int] = list(range(self.num_blocks - 1, -1, -1))
        self.evictable: OrderedDict[int, None] = OrderedDict()
        self._cached: set[int] = set()  # blocks whose contents the prefix cache still indexes
        self.on_evict: Callable[[int], None] | None = None
        self.evictions = 0

    # -- queries -------------------------------------------------------------------------
    @property
    def num_free(self) -> int:
        """Blocks an allocation can take: plain free ones plus evictable cached ones."""
        return len(self.free_list) + len(self.evictable)

    @property
    def num_used(self) -> int:
        return self.num_blocks - self.num_free

    def check(self, block: int) -> int:
        """``block`` itself if it is an int in [0, num_blocks); raises ForeignBlock otherwise."""
        if isinstance(block, bool) or not isinstance(block, int) or not 0 <= block < self.num_blocks:
            raise ForeignBlock(f"block id must be an int in [0, {self.num_blocks}): got {block!r}")
        return block

    def refcount(self, block: int) -> int:
        """Number of owners of ``block`` (0 when it is free)."""
        return self.refcounts[self.check(block)]

    def is_evictable(self, block: int) -> bool:
        """True if ``block`` is free but still holds a cached prefix block."""
        return self.check(block) in self.evictable

    # -- operations ----------------------------------------------------------------------
    def allocate(self) -> int:
        """Take a free block (refcount 1). Evicts the LRU cached block only if no plain one is left."""
        if self.free_list:
            block = self.free_list.pop()
        elif self.evictable:
            block, _ = self.evictable.popitem(last=False)
            self._cached.discard(block)
            self.evictions += 1
            if self.on_evict is not None:
                self.on_evict(block)
        else:
            raise OutOfBlocks(f"all {self.num_blocks} blocks of {self.block_size} slots are in use")
        self.refcounts[block] = 1
        return block

    def incref(self, block: int) -> None:
        """Add an owner to an allocated block (fork, prefix-cache hit on a live block)."""
        if self.refcounts[self.check(block)] == 0:
            raise NotAllocated(f"block {block} is free: allocate() or revive() it before adding a reference")
        self.refcounts[block] += 1

    def free(self, block: int) -> None:
        """Drop one reference; at zero the block returns to the pool (kept evictable if cached)."""
        if self.refcounts[self.check(block)] == 0:
            raise DoubleFree(f"block {block} is already free (refcount 0)")
        self.refcounts[block] -= 1
        if self.refcounts[block] == 0:
            if block in self._cached:
                self.evictable[block] = None  # most recently freed at the end
            else:
                self.free_list.append(block)

    # -- bulk operations beside the simple face (the simulator's hot path) --------------
    def allocate_many(self, n: int) -> list[int]:
        """``n`` blocks, exactly as ``n`` calls of :meth:`allocate` would take them (the
        simulator's hot path); raises OutOfBlocks and takes nothing if fewer are free."""
        if n > self.num_free:
            raise OutOfBlocks(f"{n} blocks wanted, {self.num_free} of {self.num_blocks} are free")
        free = self.free_list
        if n > len(free):  # some come from evicting cached blocks: one by one
            return [self.allocate() for _ in range(n)]
        blocks = free[len(free) - n:][::-1] if n else []
        del free[len(free) - n:]
        refcount = self.refcounts
        for block in blocks:
            refcount[block] = 1
        return blocks

    def free_many(self, blocks: list[int]) -> None:
        """:meth:`free` for each of ``blocks`` in order, with the same checks."""
        refcount, n = self.refcounts, self.num_blocks
        for block in blocks:
            if type(block) is not int or not 0 <= block < n:
                self.check(block)  # raises ForeignBlock with its message
            if refcount[block] == 1 and block not in self._cached:
                refcount[block] = 0
                self.free_list.append(block)
            else:
                self.free(block)

    # -- the prefix cache's LRU of freed cached blocks ----------------------------------
    def mark_cached(self, block: int) -> None:
        """Tell the allocator that the prefix cache indexes ``block``: keep it when freed."""
        if self.refcounts[self.check(block)] == 0:
            raise NotAllocated(f"block {block} is free: only an allocated block can be cached")
        self._cached.add(block)

    def uncache(self, block: int) -> None:
        """The prefix cache dropped ``block``: a free one becomes a plain free block."""
        self._cached.discard(self.check(block))
        if block in self.evictable:
            del self.evictable[block]
            self.free_list.append(block)

    def revive(self, block: int) -> None:
        """Take an evictable cached block back (prefix-cache hit on a freed block): refcount 1."""
        if self.check(block) not in self.evictable:
            raise NotAllocated(f"block {block} is not an evictable cached block")
        del self.evictable[block]
        self.refcounts[block] = 1
