"""Allocator, block tables, fork/copy-on-write and prefix cache: unit tests and hypothesis
state machines that check the invariants after every random operation."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from mlsys_kit.kvcache.allocator import (BlockAllocator, DoubleFree, ForeignBlock, KVCacheError, NotAllocated,
                                         OutOfBlocks)
from mlsys_kit.kvcache.block_table import BlockManager, UnknownSequence
from mlsys_kit.kvcache.prefix_cache import block_hash


# ---------------------------------------------------------------------------- allocator
def test_allocator_basics_and_errors():
    a = BlockAllocator(3, 4)
    got = [a.allocate() for _ in range(3)]
    assert sorted(got) == [0, 1, 2] and a.num_free == 0
    with pytest.raises(OutOfBlocks):
        a.allocate()
    a.incref(got[0])
    assert a.refcount(got[0]) == 2
    a.free(got[0])
    assert a.num_free == 0 and a.refcount(got[0]) == 1
    a.free(got[0])
    assert a.num_free == 1
    with pytest.raises(DoubleFree):
        a.free(got[0])
    with pytest.raises(NotAllocated):
        a.incref(got[0])
    for bad in (-1, 3, "0", 1.0, True):
        with pytest.raises(ForeignBlock):
            a.free(bad)
    with pytest.raises(ValueError):
        BlockAllocator(0, 4)
    assert not issubclass(OutOfBlocks, (DoubleFree, ForeignBlock))


def test_evictable_blocks_are_used_last_and_in_lru_order():
    a = BlockAllocator(4, 2)
    blocks = [a.allocate() for _ in range(4)]
    evicted = []
    a.on_evict = evicted.append
    for b in blocks[:3]:
        a.mark_cached(b)
    for b in (blocks[1], blocks[0], blocks[3], blocks[2]):  # 3 is not cached
        a.free(b)
    assert a.num_free == 4
    assert a.allocate() == blocks[3]  # a plain free block before any eviction
    assert evicted == []
    assert a.allocate() == blocks[1] and evicted == [blocks[1]]  # least recently freed first
    a.revive(blocks[2])  # a cache hit takes one back
    assert a.refcount(blocks[2]) == 1
    assert a.allocate() == blocks[0] and a.evictions == 2


# ---------------------------------------------------------------------------- block tables
def test_append_allocates_at_block_boundaries():
    m = BlockManager(BlockAllocator(8, 4))
    assert m.blocks_needed("a", 5) == 2
    assert m.append("a", [1, 2, 3]) == []
    assert len(m.block_table("a")) == 1
    m.append("a", [4])
    assert len(m.block_table("a")) == 1  # exactly full
    assert m.blocks_needed("a", 1) == 1
    m.append("a", [5])
    assert len(m.block_table("a")) == 2 and m.num_tokens("a") == 5


def test_fork_shares_and_copy_on_write_reports_copy():
    a = BlockAllocator(8, 4)
    m = BlockManager(a)
    m.append("p", list(range(6)))  # one full block, one half-filled
    m.fork("p", "c")
    full, part = m.block_table("p")
    assert m.block_table("c") == [full, part] and a.refcount(full) == 2 and a.refcount(part) == 2
    assert m.blocks_needed("c", 1) == 1  # the copy
    copies = m.append("c", [99])
    assert len(copies) == 1 and copies[0][0] == part
    dst = copies[0][1]
    assert m.block_table("c") == [full, dst] and a.refcount(part) == 1 and a.refcount(dst) == 1
    assert m.append("p", [7]) == []  # the parent is now the sole owner: no copy
    m.free("p")
    m.free("c")
    assert a.num_free == 8
    with pytest.raises(UnknownSequence):
        m.free("p")


def test_out_of_blocks_changes_nothing():
    a = BlockAllocator(2, 2)
    m = BlockManager(a)
    m.append("a", [1, 2, 3])
    with pytest.raises(OutOfBlocks):
        m.append("b", [1, 2, 3])
    assert "b" not in m and a.num_free == 0 and m.num_tokens("a") == 3


def test_prefix_cache_hits_eviction_and_stable_hash():
    a = BlockAllocator(6, 2)
    m = BlockManager(a, enable_prefix_cache=True)
    pc = m.prefix_cache
    m.append("a", [1, 2, 3, 4, 5])  # blocks [1,2] [3,4] [5]
    assert (pc.hits, pc.misses) == (0, 2)
    m.append("b", [1, 2, 3, 4, 9])
    assert pc.hits == 2 and m.last_append_hits("b") == 4
    assert m.block_table("b")[:2] == m.block_table("a")[:2]
    m.free("a")
    m.free("b")
    assert a.num_free == 6 and len(pc) == 2  # cached blocks survive their owners
    m.append("c", [1, 2, 3, 4])  # last token is recomputed: only the first block can hit
    assert m.last_append_hits("c") == 2 and pc.hits == 3
    m.free("c")
    m.append("d", list(range(10, 22)))  # needs all 6 blocks: the cached ones are evicted
    assert pc.evictions >= 2 and len(m.block_table("d")) == 6
    # same hash in another process (not Python's salted hash())
    code = "from mlsys_kit.kvcache.prefix_cache import block_hash; print(block_hash(b'', [1, 2, 3]).hex())"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == block_hash(b"", [1, 2, 3]).hex()
    assert block_hash(b"", [1, 2]) != block_hash(block_hash(b"", [0, 0]), [1, 2])


def test_hash_collision_is_never_a_hit():
    m = BlockManager(BlockAllocator(8, 2), enable_prefix_cache=True, hash_fn=lambda parent, toks: b"same")
    m.append("a", [1, 2, 3])
    m.append("b", [7, 8, 3])
    assert m.last_append_hits("b") == 0 and m.prefix_cache.hits == 0
    assert set(m.block_table("a")).isdisjoint(m.block_table("b"))


def test_bad_input():
    m = BlockManager(BlockAllocator(4, 2))
    with pytest.raises(ValueError):
        m.append("a", [])
    with pytest.raises(ValueError):
        m.append("a", [1, -2])
    with pytest.raises(ValueError):
        m.blocks_needed("a", -1)
    with pytest.raises(UnknownSequence):
        m.fork("nope", "x")
    with pytest.raises(ValueError):
        BlockManager("not an allocator")


# ---------------------------------------------------------------------------- state machine
def _cdiv(a, b):
    return -(-a // b)


class BlockMachine(RuleBasedStateMachine):
    """Random arrive / append / fork / free against a model of what every sequence holds.

    A simulated physical memory ``mem[block][slot]`` receives each write: the copies that
    ``append`` reports are applied first, and every written block must then be owned by the
    writing sequence alone (copy-on-write before any write to a shared block). Reading each
    sequence back through its block table must give its own tokens.
    """

    @initialize(num_blocks=st.integers(1, 12), block_size=st.integers(1, 4),
                prefix=st.booleans(), collide=st.booleans())
    def setup(self, num_blocks, block_size, prefix, collide):
        self.alloc = BlockAllocator(num_blocks, block_size)
        hash_fn = (lambda parent, toks: bytes([sum(toks) % 2])) if collide else None
        self.m = BlockManager(self.alloc, enable_prefix_cache=prefix, hash_fn=hash_fn)
        self.B, self.prefix = block_size, prefix
        self.expected: dict[int, list[int]] = {}
        self.mem: dict[int, list] = {b: [None] * block_size for b in range(num_blocks)}
        self.next_id = 0

    def _append(self, sid, toks):
        before = {s: (self.m.block_table(s), self.m.num_tokens(s)) for s in self.m.seq_ids()}
        free_before = self.alloc.num_free
        length = len(self.expected.get(sid, []))
        predicted = self.m.blocks_needed_for(sid, toks)
        if not self.prefix:  # closed form without prefix cache
            shared_tail = length % self.B and self.alloc.refcount(self.m.block_table(sid)[-1]) > 1
            assert predicted == int(bool(shared_tail)) + _cdiv(length + len(toks), self.B) - _cdiv(length, self.B)
            assert predicted == self.m.blocks_needed(sid, len(toks))
        try:
            copies = self.m.append(sid, toks)
        except OutOfBlocks:
            assert predicted > free_before  # raised exactly when the pool cannot hold it
            after = {s: (self.m.block_table(s), self.m.num_tokens(s)) for s in self.m.seq_ids()}
            assert after == before and self.alloc.num_free == free_before  # nothing changed
            return
        assert predicted <= free_before
        assert self.alloc.num_free == free_before - predicted
        for src, dst in copies:
            self.mem[dst] = list(self.mem[src])
        table = self.m.block_table(sid)
        hits = self.m.last_append_hits(sid)
        for i, t in enumerate(toks):
            pos = length + i
            block = table[pos // self.B]
            if i < hits:  # served by the prefix cache: must already hold this token
                assert self.mem[block][pos % self.B] == t
                continue
            assert self.alloc.refcount(block) == 1, "write into a shared block without copy-on-write"
            self.mem[block][pos % self.B] = t
        self.expected[sid] = self.expected.get(sid, []) + list(toks)

    @rule(toks=st.lists(st.integers(0, 2), min_size=1, max_size=9))
    def arrive(self, toks):
        self.next_id += 1
        self._append(self.next_id, toks)

    @precondition(lambda self: self.expected)
    @rule(data=st.data(), toks=st.lists(st.integers(0, 2), min_size=1, max_size=3))
    def extend(self, data, toks):
        self._append(data.draw(st.sampled_from(sorted(self.expected))), toks)

    @precondition(lambda self: self.expected)
    @rule(data=st.data())
    def fork(self, data):
        parent = data.draw(st.sampled_from(sorted(self.expected)))
        self.next_id += 1
        self.m.fork(parent, self.next_id)
        self.expected[self.next_id] = list(self.expected[parent])

    @precondition(lambda self: self.expected)
    @rule(data=st.data())
    def finish(self, data):
        sid = data.draw(st.sampled_from(sorted(self.expected)))
        self.m.free(sid)
        del self.expected[sid]

    @invariant()
    def invariants(self):
        if not hasattr(self, "m"):
            return
        owners = self.m.owners()
        assert set(self.m.seq_ids()) == set(self.expected)
        for block in range(self.alloc.num_blocks):
            assert self.alloc.refcount(block) == len(owners.get(block, []))  # refcount == owners
        assert self.alloc.num_used == len(owners)  # no leak
        for sid, toks in self.expected.items():
            table = self.m.block_table(sid)
            assert len(table) == len(set(table)) == _cdiv(len(toks), self.B)
            assert self.m.token_ids(sid) == toks
            read = [self.mem[table[p // self.B]][p % self.B] for p in range(len(toks))]
            assert read == toks  # nobody overwrote this sequence's K/V
        if self.prefix:
            pc = self.m.prefix_cache
            for block in pc.cached_blocks():  # cached blocks are live or evictable, never plain free
                assert self.alloc.refcount(block) > 0 or self.alloc.is_evictable(block)


TestBlockMachine = BlockMachine.TestCase
TestBlockMachine.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(st.tuples(st.booleans(), st.integers(0, 20)), max_size=60), n=st.integers(1, 10))
def test_allocator_random_ops(ops, n):
    """Allocate/free at random: OutOfBlocks exactly when all n are taken; no block handed out twice."""
    a = BlockAllocator(n, 1)
    held: list[int] = []
    for do_alloc, k in ops:
        if do_alloc or not held:
            if len(held) == n:
                with pytest.raises(OutOfBlocks):
                    a.allocate()
            else:
                b = a.allocate()
                assert b not in held
                held.append(b)
        else:
            a.free(held.pop(k % len(held)))
        assert a.num_free == n - len(held)


@settings(max_examples=100, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from(["alloc", "free", "cache"]), st.integers(0, 6), st.integers(0, 50)),
                    max_size=40), n=st.integers(1, 12))
def test_bulk_allocate_and_free_equal_one_at_a_time(ops, n):
    """allocate_many / free_many (the simulator's hot path) leave the allocator exactly as the
    same allocate / free calls one by one would, cached (evictable) blocks included."""
    one, bulk = BlockAllocator(n, 2), BlockAllocator(n, 2)
    held: list[int] = []
    for op, k, pick in ops:
        if op == "alloc":
            if k > one.num_free:
                with pytest.raises(OutOfBlocks):
                    bulk.allocate_many(k)
                assert bulk.num_free == one.num_free
                continue
            got = bulk.allocate_many(k)
            assert got == [one.allocate() for _ in range(k)]
            held += got
        elif op == "free" and held:
            chunk = [held.pop(pick % len(held)) for _ in range(min(k, len(held)))]
            for b in chunk:
                one.free(b)
            bulk.free_many(chunk)
        elif op == "cache" and held:
            b = held[pick % len(held)]
            one.mark_cached(b)
            bulk.mark_cached(b)
        assert bulk.free_list == one.free_list and bulk.refcounts == one.refcounts
        assert list(bulk.evictable) == list(one.evictable)
    with pytest.raises(KVCacheError):
        bulk.free_many([n])  # not a block of this pool


# ------------------------------------------------------------- the simple face (lab 2's names)
@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(n=st.integers(1, 10), B=st.integers(1, 5),
       ops=st.lists(st.tuples(st.sampled_from("aekf"), st.integers(0, 99), st.integers(1, 9)), max_size=40))
def test_append_by_count_takes_the_same_blocks_as_append_by_ids(n, B, ops):
    """``append(seq_id, n)`` (lab 2's simple face) and ``append(seq_id, token_ids)`` agree on
    every table, length, copy-on-write copy and OutOfBlocks; ``tables``/``lengths`` are the
    public dicts that ``block_table``/``num_tokens`` read."""
    by_count, by_ids = BlockManager(BlockAllocator(n, B)), BlockManager(BlockAllocator(n, B))
    nxt = 0
    for op, k, cnt in ops:
        live = sorted(by_count.tables)
        if op == "f" and live:
            sid = live[k % len(live)]
            by_count.free(sid), by_ids.free(sid)
        elif op == "k" and live:
            by_count.fork(live[k % len(live)], nxt), by_ids.fork(live[k % len(live)], nxt)
            nxt += 1
        else:
            sid = live[k % len(live)] if op == "e" and live else nxt
            nxt += sid == nxt
            assert by_count.blocks_needed(sid, cnt) == by_ids.blocks_needed(sid, cnt)
            outcome = []
            for m, arg in ((by_count, cnt), (by_ids, list(range(cnt)))):
                try:
                    outcome.append(m.append(sid, arg))
                except OutOfBlocks:
                    outcome.append("oob")
            assert outcome[0] == outcome[1]
        assert by_count.tables == by_ids.tables and by_count.lengths == by_ids.lengths
        assert by_count.allocator.refcounts == by_ids.allocator.refcounts
        assert by_count.allocator.free_list == by_ids.allocator.free_list
        for sid in by_count.tables:
            assert by_count.block_table(sid) == by_count.tables[sid]
            assert by_count.num_tokens(sid) == by_count.lengths[sid]
            assert len(by_count.tables[sid]) == -(-by_count.lengths[sid] // B)


def test_count_appends_are_refused_where_token_ids_matter():
    m = BlockManager(BlockAllocator(4, 2))
    m.append("a", 3)
    with pytest.raises(ValueError, match="by count"):
        m.token_ids("a")
    for bad in (0, -1, True, "ab", []):
        with pytest.raises(ValueError):
            m.append("a", bad)
    with pytest.raises(ValueError, match="token ids"):
        BlockManager(BlockAllocator(4, 2), enable_prefix_cache=True).append("a", 3)


def test_copy_on_write_is_public_and_reports_the_copy():
    m = BlockManager(BlockAllocator(6, 4))
    m.append("p", 6)
    m.fork("p", "c")
    full, part = m.tables["p"]
    assert m.last_block_shared("c") and m.last_block_shared("p")
    assert m.copy_on_write("c") == (part, m.tables["c"][1]) and m.tables["c"][0] == full
    assert not m.last_block_shared("p") and m.allocator.refcount(part) == 1


def test_prefix_cache_lookup_takes_a_reference_and_peek_does_not():
    from mlsys_kit.kvcache.prefix_cache import PrefixCache

    a = BlockAllocator(3, 2)
    pc = PrefixCache(a)
    b = a.allocate()
    h = block_hash(b"", [1, 2])
    pc.insert(h, [1, 2], b)  # parent defaults to -1: a first block
    assert pc.peek(h, [1, 2]) == b and a.refcount(b) == 1 and pc.hits == 0
    assert pc.lookup(h, [1, 2]) == b and a.refcount(b) == 2 and pc.hits == 1
    assert pc.lookup(h, [2, 1]) is None and pc.misses == 1  # same hash, other tokens: a miss
    a.free(b), a.free(b)
    assert a.is_evictable(b) and a.num_free == 3 and list(a.evictable) == [b]
    assert pc.lookup(h, [1, 2]) == b and a.refcount(b) == 1 and not a.is_evictable(b)  # revived
    assert pc.index == {h: b} and pc.entry[b] == (h, -1, (1, 2))
