"""Prefix cache: reuse the KV blocks of a prompt prefix another request already computed.

PagedAttention (Kwon et al., SOSP'23), section 4.4 "Shared prefix": requests that start with
the same tokens (a system prompt, few-shot examples) can share the physical blocks of that
prefix. As in vLLM's automatic prefix caching, a *full* block is identified by a chained
hash of (hash of the previous block, this block's token ids): equal hashes mean equal
prefixes up to and including this block, whatever the block size of the rest.

* The hash is SHA-256 over a fixed byte encoding (not Python's ``hash()``, which is salted
  per process), so it is the same across processes and runs.
* A hit is confirmed by comparing the stored token ids: a hash collision can never make a
  sequence reuse a block holding other tokens.
* A cached block whose last owner finished stays in the pool as *evictable* (see
  :class:`~mlsys_kit.kvcache.allocator.BlockAllocator`): it is reused on a hit, and only
  evicted, least recently freed first, when an allocation finds no plain free block.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Callable, Sequence

from mlsys_kit.kvcache.allocator import BlockAllocator

ROOT_HASH = b""  # parent hash of a sequence's first block

HashFn = Callable[[bytes, Sequence[int]], bytes]


def block_hash(parent: bytes, token_ids: Sequence[int]) -> bytes:
    """Chained SHA-256 of (parent block hash, token ids), stable across processes."""
    h = hashlib.sha256()
    h.update(struct.pack("<I", len(parent)))
    h.update(parent)
    h.update(struct.pack(f"<{len(token_ids)}q", *token_ids))
    return h.digest()


class PrefixCache:
    """Index hash -> physical block of full, immutable KV blocks, with hit/miss counters.

    Each entry also records its parent block (the block before it in the sequence, or -1 for
    a first block). A hit needs equal token ids *and* the same parent block, which was itself
    a confirmed hit: by induction the whole prefix is equal, even if the hash function had
    collisions. A block is only indexed if its parent is, and evicting a block un-indexes its
    descendants, so a parent id never refers to a block that was since reused.
    """

    def __init__(self, allocator: BlockAllocator, hash_fn: HashFn | None = None) -> None:
        self.allocator = allocator
        self.hash_fn: HashFn = hash_fn or block_hash
        self.index: dict[bytes, int] = {}  # hash -> block
        self.entry: dict[int, tuple[bytes, int, tuple[int, ...]]] = {}  # block -> (hash, parent, tokens)
        self._children: dict[int, set[int]] = {}
        self.hits = 0  # full blocks served from the cache
        self.misses = 0  # full prompt blocks looked up and not found
        allocator.on_evict = self._evicted

    @property
    def evictions(self) -> int:
        return self.allocator.evictions

    def __len__(self) -> int:
        return len(self.index)

    def lookup(self, h: bytes, token_ids: Sequence[int], parent: int = -1) -> int | None:
        """A cache hit takes a reference: the block cached under ``h`` holding ``token_ids`` after
        block ``parent`` (-1: a first block), revived if it was evictable, one more owner if it is
        live; None on a miss. Counts ``hits`` and ``misses``. (The block manager plans a whole
        append with :meth:`peek` first and takes its hits in bulk.)"""
        block = self.peek(h, token_ids, parent)
        if block is None:
            self.misses += 1
            return None
        self.hits += 1
        if self.allocator.is_evictable(block):
            self.allocator.revive(block)
        else:
            self.allocator.incref(block)
        return block

    def peek(self, h: bytes, token_ids: Sequence[int], parent: int = -1) -> int | None:
        """Look without taking: the block :meth:`lookup` would return, no reference, no counts."""
        block = self.index.get(h)
        if block is None:
            return None
        _, entry_parent, entry_tokens = self.entry[block]
        if entry_parent != parent or entry_tokens != tuple(token_ids):
            return None  # a hash collision: never reuse
        return block

    def insert(self, h: bytes, token_ids: Sequence[int], block: int, parent: int = -1) -> None:
        """Index a block that just became full. The first block with a given hash wins."""
        if h in self.index or block in self.entry or (parent != -1 and parent not in self.entry):
            return
        self.index[h] = block
        self.entry[block] = (h, parent, tuple(token_ids))
        self._children.setdefault(parent, set()).add(block)
        self.allocator.mark_cached(block)

    def _unindex(self, block: int) -> None:
        h, parent, _ = self.entry.pop(block)
        del self.index[h]
        self._children.get(parent, set()).discard(block)
        for child in self._children.pop(block, set()):
            self.allocator.uncache(child)
            self._unindex(child)

    def _evicted(self, block: int) -> None:
        self._unindex(block)

    def cached_blocks(self) -> set[int]:
        return set(self.entry)
