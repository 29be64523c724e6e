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

Pure Python, no tensors: the model runner turns block tables into slot mappings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable, Sequence

from mlsys_kit.kvcache.allocator import BlockAllocator, KVCacheError, OutOfBlocks
from mlsys_kit.kvcache.prefix_cache import ROOT_HASH, HashFn, PrefixCache


class UnknownSequence(KVCacheError, ValueError):
    """A sequence id that the manager does not hold (or one that already exists on fork)."""


@dataclass
class _Seq:
    blocks: list[int] = field(default_factory=list)  # the block table
    tokens: list[int] = field(default_factory=list)  # token ids whose K/V the blocks hold
    hashes: list[bytes] = field(default_factory=list)  # chained hash per full block (prefix cache)
    last_hits: int = 0  # leading tokens of the last append found in the prefix cache


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


class BlockManager:
    """Block tables of all live sequences over one :class:`BlockAllocator`."""

    def __init__(self, allocator: BlockAllocator, enable_prefix_cache: bool = False,
                 hash_fn: HashFn | None = None) -> None:
        if not isinstance(allocator, BlockAllocator):
            raise ValueError(f"allocator must be a BlockAllocator: got {type(allocator).__name__}")
        self.allocator = allocator
        self.block_size = allocator.block_size
        self.prefix_cache = PrefixCache(allocator, hash_fn) if enable_prefix_cache else None
        self._seqs: dict[Hashable, _Seq] = {}

    # -- queries -------------------------------------------------------------------------
    def _get(self, seq_id: Hashable) -> _Seq:
        try:
            return self._seqs[seq_id]
        except KeyError:
            raise UnknownSequence(f"unknown sequence {seq_id!r}: it was never appended to or was freed") from None

    def __contains__(self, seq_id: Hashable) -> bool:
        return seq_id in self._seqs

    def seq_ids(self) -> list[Hashable]:
        return list(self._seqs)

    def block_table(self, seq_id: Hashable) -> list[int]:
        """Physical block of each logical block of the sequence (a copy)."""
        return list(self._get(seq_id).blocks)

    def num_tokens(self, seq_id: Hashable) -> int:
        return len(self._get(seq_id).tokens)

    def token_ids(self, seq_id: Hashable) -> list[int]:
        return list(self._get(seq_id).tokens)

    def last_append_hits(self, seq_id: Hashable) -> int:
        """Leading tokens of the last append whose K/V were already cached (prefix-cache hits):
        the model runner computes only the tokens after them."""
        return self._get(seq_id).last_hits

    # -- planning (no side effects) ------------------------------------------------------
    def _plan(self, seq: _Seq | None, token_ids: Sequence[int]) -> tuple[bool, int, list[tuple[int, bytes]]]:
        """(copy-on-write needed, new blocks to fill, prefix-cache hits [(block, hash)])."""
        B, n = self.block_size, len(token_ids)
        length = len(seq.tokens) if seq else 0
        cow = length % B != 0 and self.allocator.refcount(seq.blocks[-1]) > 1
        new_blocks = _cdiv(length + n, B) - _cdiv(length, B)
        hits: list[tuple[int, bytes]] = []
        if self.prefix_cache is not None and length % B == 0:
            parent = seq.hashes[-1] if seq and seq.hashes else ROOT_HASH
            prev = seq.blocks[-1] if seq and seq.blocks else -1
            # only blocks before the last token: the last token is always computed (its logits)
            for j in range((n - 1) // B):
                chunk = token_ids[j * B:(j + 1) * B]
                h = self.prefix_cache.hash_fn(parent, chunk)
                block = self.prefix_cache.peek(h, chunk, prev)
                if block is None:
                    break
                hits.append((block, h))
                parent, prev = h, block
        return cow, new_blocks, hits

    def blocks_needed(self, seq_id: Hashable, num_new_tokens: int) -> int:
        """Free blocks that appending ``num_new_tokens`` would take (new blocks + copy-on-write),
        without the prefix cache (which can only lower it): an upper bound a scheduler can use."""
        if isinstance(num_new_tokens, bool) or not isinstance(num_new_tokens, int) or num_new_tokens < 0:
            raise ValueError(f"num_new_tokens must be a non-negative integer: got {num_new_tokens!r}")
        seq = self._seqs.get(seq_id)
        B, length = self.block_size, (len(seq.tokens) if seq else 0)
        cow = num_new_tokens > 0 and length % B != 0 and self.allocator.refcount(seq.blocks[-1]) > 1
        return int(cow) + _cdiv(length + num_new_tokens, B) - _cdiv(length, B)

    def blocks_needed_for(self, seq_id: Hashable, token_ids: Sequence[int]) -> int:
        """Exact free blocks an ``append(seq_id, token_ids)`` would take, counting prefix-cache
        hits on live blocks as free and hits on evictable blocks as one free block each."""
        cow, new_blocks, hits = self._plan(self._seqs.get(seq_id), token_ids)
        revived = sum(self.allocator.is_evictable(b) for b, _ in hits)
        return int(cow) + new_blocks - len(hits) + revived

    # -- operations ----------------------------------------------------------------------
    def append(self, seq_id: Hashable, token_ids: Sequence[int]) -> list[tuple[int, int]]:
        """Append tokens to a sequence (created on first use); returns the (src, dst) block
        copies made by copy-on-write. Raises OutOfBlocks and changes nothing if the pool
        cannot hold the whole append."""
        if isinstance(token_ids, (str, bytes)) or not all(
                isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in token_ids):
            raise ValueError(f"token_ids must be a list of non-negative ints: got {token_ids!r}"[:200])
        if len(token_ids) == 0:
            raise ValueError("token_ids must hold at least one token")
        token_ids = list(token_ids)
        seq = self._seqs.get(seq_id)
        cow, new_blocks, hits = self._plan(seq, token_ids)
        alloc, B = self.allocator, self.block_size
        looked_up = (len(seq.tokens) if seq else 0) % B == 0
        needed = int(cow) + new_blocks - len(hits) + sum(alloc.is_evictable(b) for b, _ in hits)
        if needed > alloc.num_free:
            raise OutOfBlocks(f"append of {len(token_ids)} tokens to sequence {seq_id!r} needs {needed} "
                              f"free blocks, {alloc.num_free} of {alloc.num_blocks} are free")
        if seq is None:
            seq = self._seqs[seq_id] = _Seq()
        copies: list[tuple[int, int]] = []
        if cow:  # first write into a shared, partly filled block: copy it, then write the copy
            src = seq.blocks[-1]
            dst = alloc.allocate()
            alloc.free(src)  # drop our reference to the shared block
            seq.blocks[-1] = dst
            copies.append((src, dst))
        for block, h in hits:  # prefix-cache hits: share the cached blocks
            if alloc.is_evictable(block):
                alloc.revive(block)
            else:
                alloc.incref(block)
            seq.blocks.append(block)
            seq.hashes.append(h)
        seq.last_hits = len(hits) * B
        seq.tokens.extend(token_ids[:seq.last_hits])
        pc = self.prefix_cache
        if pc is not None and looked_up:  # every full block before the last token was looked up
            pc.hits += len(hits)
            pc.misses += (len(token_ids) - 1) // B - len(hits)
        i, pos = seq.last_hits, len(seq.tokens)
        while i < len(token_ids):
            if pos % B == 0:
                seq.blocks.append(alloc.allocate())
            take = min(B - pos % B, len(token_ids) - i)
            seq.tokens.extend(token_ids[i:i + take])
            i, pos = i + take, pos + take
            if pc is not None and pos % B == 0:  # a block just became full: index it
                j = len(seq.hashes)
                parent = seq.hashes[-1] if seq.hashes else ROOT_HASH
                chunk = seq.tokens[j * B:(j + 1) * B]
                seq.hashes.append(pc.hash_fn(parent, chunk))
                pc.insert(seq.hashes[-1], chunk, seq.blocks[j], seq.blocks[j - 1] if j else -1)
        return copies

    def fork(self, parent_id: Hashable, child_id: Hashable) -> None:
        """A new sequence sharing every block of ``parent_id`` (section 4.4)."""
        parent = self._get(parent_id)
        if child_id in self._seqs:
            raise UnknownSequence(f"cannot fork into {child_id!r}: that sequence already exists")
        for block in parent.blocks:
            self.allocator.incref(block)
        self._seqs[child_id] = _Seq(list(parent.blocks), list(parent.tokens), list(parent.hashes))

    def free(self, seq_id: Hashable) -> None:
        """Release a finished sequence. Blocks are freed last-first, so that the tail of a
        cached prefix is evicted before its head (the head is the part others share)."""
        seq = self._get(seq_id)
        for block in reversed(seq.blocks):
            self.allocator.free(block)
        del self._seqs[seq_id]

    def owners(self) -> dict[int, list[Hashable]]:
        """Physical block -> the sequences whose tables hold it (for invariants and pictures)."""
        out: dict[int, list[Hashable]] = {}
        for sid, seq in self._seqs.items():
            for block in seq.blocks:
                out.setdefault(block, []).append(sid)
        return out
