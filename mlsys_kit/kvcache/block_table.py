"""Block tables: each sequence's logical-to-physical block mapping, with fork and copy-on-write.

PagedAttention (Kwon et al., SOSP'23), section 4.2 "KV Cache Manager" and section 4.3
"Decoding with PagedAttention and vLLM": a sequence's tokens fill logical blocks left to
right; a new physical block is allocated only when the last one is full, so at most one
partly filled block per sequence is ever wasted. Section 4.4 "Application to other decoding
scenarios": ``fork`` lets a child sequence (parallel sampling, beam search) share every block
of its parent by reference count; the first write into a shared, partly filled block copies
it first (copy-on-write) and reports the (src, dst) copy so that the model runner copies
the K/V data before writing the new token. Full blocks are never written again, so they stay
shared forever. With ``enable_prefix_cache`` the full blocks are also indexed by content
(:mod:`mlsys_kit.kvcache.prefix_cache`) and a new prompt reuses the blocks of a known prefix.

The simple face (what lab 2 writes): ``tables[seq_id]`` (the block table), ``lengths[seq_id]``
(tokens held), ``blocks_needed(seq_id, n)``, ``append(seq_id, n)``, ``last_block_shared``,
``copy_on_write``, ``fork`` and ``free``. ``append`` also takes the token ids themselves
instead of a count: the prefix cache needs them to find and index blocks by content.

Pure Python, no tensors: the model runner turns block tables into slot mappings.
"""

from __future__ import annotations

from typing import Hashable, Sequence

from mlsys_kit.common import ceil_div
from mlsys_kit.kvcache.allocator import BlockAllocator, KVCacheError, OutOfBlocks
from mlsys_kit.kvcache.prefix_cache import ROOT_HASH, HashFn, PrefixCache


class UnknownSequence(KVCacheError, ValueError):
    """A sequence id that the manager does not hold (or one that already exists on fork)."""


class BlockManager:
    """Block tables of all live sequences over one :class:`BlockAllocator`."""

    def __init__(self, allocator: BlockAllocator, enable_prefix_cache: bool = False,
                 hash_fn: HashFn | None = None) -> None:
        if not isinstance(allocator, BlockAllocator):
            raise ValueError(f"allocator must be a BlockAllocator: got {type(allocator).__name__}")
        self.allocator = allocator
        self.block_size = allocator.block_size
        self.prefix_cache = PrefixCache(allocator, hash_fn) if enable_prefix_cache else None
        self.tables: dict[Hashable, list[int]] = {}  # seq_id -> physical block of each logical block
        self.lengths: dict[Hashable, int] = {}  # seq_id -> tokens held
        # content, where known: token ids (None once a count was appended), chained block hashes
        self._ids: dict[Hashable, list[int] | None] = {}
        self._hashes: dict[Hashable, list[bytes]] = {}
        self._last_hits: dict[Hashable, int] = {}

    # -- queries -------------------------------------------------------------------------
    def _known(self, seq_id: Hashable) -> Hashable:
        if seq_id not in self.tables:
            raise UnknownSequence(f"unknown sequence {seq_id!r}: it was never appended to or was freed")
        return seq_id

    def __contains__(self, seq_id: Hashable) -> bool:
        return seq_id in self.tables

    def seq_ids(self) -> list[Hashable]:
        return list(self.tables)

    def block_table(self, seq_id: Hashable) -> list[int]:
        """Physical block of each logical block of the sequence (a copy)."""
        return list(self.tables[self._known(seq_id)])

    def num_tokens(self, seq_id: Hashable) -> int:
        return self.lengths[self._known(seq_id)]

    def token_ids(self, seq_id: Hashable) -> list[int]:
        ids = self._ids[self._known(seq_id)]
        if ids is None:
            raise ValueError(f"sequence {seq_id!r} was appended by count: its token ids are unknown")
        return list(ids)

    def last_append_hits(self, seq_id: Hashable) -> int:
        """Leading tokens of the last append whose K/V were already cached (prefix-cache hits):
        the model runner computes only the tokens after them."""
        return self._last_hits[self._known(seq_id)]

    def last_block_shared(self, seq_id: Hashable) -> bool:
        """Is the sequence's last block partly filled and shared with another sequence?"""
        length = self.lengths.get(seq_id, 0)
        return length % self.block_size != 0 and self.allocator.refcount(self.tables[seq_id][-1]) > 1

    def blocks_needed(self, seq_id: Hashable, n: int) -> int:
        """Free blocks that appending ``n`` tokens would take (new blocks + copy-on-write),
        without the prefix cache (which can only lower it): an upper bound a scheduler can use."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"the number of new tokens must be a non-negative integer: got {n!r}")
        length = self.lengths.get(seq_id, 0)
        new_blocks = ceil_div(length + n, self.block_size) - ceil_div(length, self.block_size)
        return new_blocks + int(n > 0 and self.last_block_shared(seq_id))

    def _prefix_hits(self, seq_id: Hashable, token_ids: Sequence[int]) -> list[tuple[int, bytes]]:
        """Leading full blocks of an append that the prefix cache holds: [(block, hash)] (no side effects)."""
        pc, B = self.prefix_cache, self.block_size
        if pc is None or token_ids is None or self.lengths.get(seq_id, 0) % B:
            return []
        hashes, table = self._hashes.get(seq_id, []), self.tables.get(seq_id, [])
        parent, prev = (hashes[-1] if hashes else ROOT_HASH), (table[-1] if table else -1)
        hits: list[tuple[int, bytes]] = []
        # only blocks before the last token: the last token is always computed (its logits)
        for j in range((len(token_ids) - 1) // B):
            chunk = token_ids[j * B:(j + 1) * B]
            h = pc.hash_fn(parent, chunk)
            block = pc.peek(h, chunk, prev)
            if block is None:
                break
            hits.append((block, h))
            parent, prev = h, block
        return hits

    def blocks_needed_for(self, seq_id: Hashable, token_ids: Sequence[int]) -> int:
        """Exact free blocks an ``append(seq_id, token_ids)`` would take, counting prefix-cache
        hits on live blocks as free and hits on evictable blocks as one free block each."""
        hits = self._prefix_hits(seq_id, token_ids)
        revived = sum(self.allocator.is_evictable(b) for b, _ in hits)
        return self.blocks_needed(seq_id, len(token_ids)) - len(hits) + revived

    # -- operations ----------------------------------------------------------------------
    def append(self, seq_id: Hashable, tokens: int | Sequence[int]) -> list[tuple[int, int]]:
        """Append ``tokens`` to a sequence (created on first use): a count ``n`` of new tokens,
        or their token ids (which the prefix cache needs). A new block is allocated only when
        the last one is full. Returns the (src, dst) block copies made by copy-on-write. Raises
        OutOfBlocks and changes nothing if the pool cannot hold the whole append."""
        if isinstance(tokens, bool) or isinstance(tokens, (str, bytes)):
            raise ValueError(f"tokens must be a count (int >= 1) or a list of token ids: got {tokens!r}")
        if isinstance(tokens, int):
            n, ids = tokens, None
            if n < 1:
                raise ValueError(f"append at least one token: got n={n}")
            if self.prefix_cache is not None:
                raise ValueError("with the prefix cache on, append the token ids, not a count")
        else:
            ids = list(tokens)
            if not all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in ids):
                raise ValueError(f"token_ids must be a list of non-negative ints: got {tokens!r}"[:200])
            n = len(ids)
            if n == 0:
                raise ValueError("token_ids must hold at least one token")
        hits = self._prefix_hits(seq_id, ids)
        alloc, B = self.allocator, self.block_size
        needed = self.blocks_needed(seq_id, n) - len(hits) + sum(alloc.is_evictable(b) for b, _ in hits)
        if needed > alloc.num_free:
            raise OutOfBlocks(f"append of {n} tokens to sequence {seq_id!r} needs {needed} "
                              f"free blocks, {alloc.num_free} of {alloc.num_blocks} are free")
        looked_up = self.lengths.get(seq_id, 0) % B == 0
        table = self.tables.setdefault(seq_id, [])
        length = self.lengths.setdefault(seq_id, 0)
        known = self._ids.setdefault(seq_id, [])
        copies = [self.copy_on_write(seq_id)] if self.last_block_shared(seq_id) else []
        hashes = self._hashes.setdefault(seq_id, [])
        for block, h in hits:  # prefix-cache hits: share the cached blocks
            (alloc.revive if alloc.is_evictable(block) else alloc.incref)(block)
            table.append(block)
            hashes.append(h)
        self._last_hits[seq_id] = skip = len(hits) * B
        while len(table) * B < length + n:  # a new block only when the last one is full
            table.append(alloc.allocate())
        self.lengths[seq_id] = length + n
        if ids is None or known is None:
            self._ids[seq_id] = None
        else:
            known.extend(ids)
        pc = self.prefix_cache
        if pc is not None:
            if looked_up:  # every full block before the last token was looked up
                pc.hits += len(hits)
                pc.misses += (n - 1) // B - len(hits)
            self._index_full_blocks(seq_id, skip)
        return copies

    def _index_full_blocks(self, seq_id: Hashable, skip: int) -> None:
        """Hash and index every block that became full (the prefix cache's insert)."""
        pc, B, hashes, table = self.prefix_cache, self.block_size, self._hashes[seq_id], self.tables[seq_id]
        ids = self._ids[seq_id]
        for j in range(len(hashes), self.lengths[seq_id] // B):
            parent = hashes[-1] if hashes else ROOT_HASH
            chunk = ids[j * B:(j + 1) * B]
            hashes.append(pc.hash_fn(parent, chunk))
            pc.insert(hashes[-1], chunk, table[j], table[j - 1] if j else -1)

    def copy_on_write(self, seq_id: Hashable) -> tuple[int, int]:
        """First write into a shared, partly filled block: give the sequence a private copy.
        Returns (src, dst) so that the model runner copies the K/V data (section 4.4, Figure 8)."""
        table = self.tables[self._known(seq_id)]
        src = table[-1]
        dst = self.allocator.allocate()
        self.allocator.free(src)  # drop our reference to the shared block
        table[-1] = dst
        return src, dst

    def fork(self, parent_id: Hashable, child_id: Hashable) -> None:
        """A new sequence sharing every block of ``parent_id`` (section 4.4)."""
        self._known(parent_id)
        if child_id in self.tables:
            raise UnknownSequence(f"cannot fork into {child_id!r}: that sequence already exists")
        for block in self.tables[parent_id]:
            self.allocator.incref(block)
        self.tables[child_id] = list(self.tables[parent_id])
        self.lengths[child_id] = self.lengths[parent_id]
        ids = self._ids[parent_id]
        self._ids[child_id] = None if ids is None else list(ids)
        self._hashes[child_id] = list(self._hashes[parent_id])
        self._last_hits[child_id] = 0

    def free(self, seq_id: Hashable) -> None:
        """Release a finished sequence. Blocks are freed last-first, so that the tail of a
        cached prefix is evicted before its head (the head is the part others share)."""
        for block in reversed(self.tables[self._known(seq_id)]):
            self.allocator.free(block)
        for d in (self.tables, self.lengths, self._ids, self._hashes, self._last_hits):
            del d[seq_id]

    def owners(self) -> dict[int, list[Hashable]]:
        """Physical block -> the sequences whose tables hold it (for invariants and pictures)."""
        out: dict[int, list[Hashable]] = {}
        for sid, table in self.tables.items():
            for block in table:
                out.setdefault(block, []).append(sid)
        return out
