# lab2-paged-kv-cache: the source of labs/source/lab2-paged-kv-cache/lab2-paged-kv-cache.ipynb (jupytext percent format).
# Build the notebook with `mlsys-grade build lab2-paged-kv-cache`; docs/labs.md says how a lab is written.
# mlsys_grade: {"reference": ["mlsys_kit.kvcache"]}

# %% [markdown] id="intro"
# # Lab 2: a paged KV cache
#
# Serving systems used to reserve one contiguous chunk of KV-cache memory per request, sized for
# the longest output it might produce. PagedAttention (Kwon et al., SOSP'23) measured that only
# 20-38 % of that memory ever held a token, and fixed it the way operating systems fixed physical
# memory: **pages**. The KV cache becomes a pool of fixed-size *blocks*; each sequence has a
# *block table* mapping its logical blocks to physical ones; blocks are allocated only when the
# last one is full, and can be **shared** between sequences (parallel sampling, a common prompt).
#
# You will build the memory manager of such a cache, the part vLLM calls the block manager:
#
# 1. a block allocator with reference counts (section 4.2 of the paper), 3 points;
# 2. block tables: appending tokens allocates at block boundaries, 3 points;
# 3. `fork` and **copy-on-write** (section 4.4, Figure 8), 3 points;
# 4. prefix caching: reuse the blocks of a prompt prefix another request computed, 3 points;
# 5. measure memory waste against the block size, 2 points;
# 6. a design question: how many more requests paging fits, and which block size, 2 + 2 points.
#
# Reading: PagedAttention sections 3, 4.1-4.4. Fill in every `YOUR CODE HERE` (delete the
# `raise NotImplementedError()`), then run the test cell below it. Hidden tests drive long random
# sequences of operations against a reference implementation and check the invariants after each
# one: no block leaked or owned twice, reference counts equal the number of owners, no write into
# a shared block, `OutOfBlocks` exactly when the pool cannot hold a request. Total: 18 points: 16
# autograded, and 2 for the closing "why" answer, which your instructor grades by hand.

# %% kind="locked" id="setup"
from collections import OrderedDict


# The design question's setting (section 6): OPT-13B on one A100-40GB keeps about 12 GB for its KV
# cache at 800 KB per token (2 x 40 layers x 5120 x 2 bytes): 14,648 token slots
DESIGN_POOL_SLOTS = 14_648
DESIGN_LENGTH = 300       # tokens a request reaches (prompt + output)
DESIGN_MAX_LEN = 2048     # what static reservation sets aside per request


class KVCacheError(Exception):
    """Base class of the cache's errors."""


class OutOfBlocks(KVCacheError):
    """No free block left: a scheduler catches this and makes the request wait."""


class DoubleFree(KVCacheError):
    """A block was freed more often than it was referenced."""


class ForeignBlock(KVCacheError):
    """Not a block id of this pool (not an int in [0, num_blocks))."""

# %% [markdown] id="md-alloc"
# ## 1. The block allocator (3 points)
#
# A pool of `num_blocks` blocks of `block_size` token slots. `allocate()` hands out a free block
# with reference count 1 (raise `OutOfBlocks` if none is left); `incref(b)` adds an owner;
# `free(b)` drops one owner and returns the block to the pool when none is left (`self.refcounts[b]`
# counts the owners of block `b`). Every operation
# must be O(1): keep the free blocks on a stack (`self.free_list`, the last element is handed out
# next). Freeing a block whose count is already 0 raises `DoubleFree`; any id that is not an
# `int` in `[0, num_blocks)` raises `ForeignBlock` (in `free`, `incref` and `refcount`).

# %% kind="solution" id="allocator"
class BlockAllocator:
    def __init__(self, num_blocks: int, block_size: int):
        self.num_blocks = num_blocks
        self.block_size = block_size
        self.refcounts = [0] * num_blocks                            # owners of each block
        self.free_list = list(range(num_blocks - 1, -1, -1))   # block 0 is handed out first

    @property
    def num_free(self) -> int:
        ### BEGIN SOLUTION
        return len(self.free_list)
        ### END SOLUTION

    def check(self, block) -> None:
        """Raise ForeignBlock unless block is an int in [0, num_blocks)."""
        ### BEGIN SOLUTION
        if isinstance(block, bool) or not isinstance(block, int) or not 0 <= block < self.num_blocks:
            raise ForeignBlock(f"not a block of this pool: {block!r}")
        ### END SOLUTION

    def allocate(self) -> int:
        ### BEGIN SOLUTION
        if not self.free_list:
            raise OutOfBlocks(f"all {self.num_blocks} blocks are in use")
        block = self.free_list.pop()
        self.refcounts[block] = 1
        return block
        ### END SOLUTION

    def incref(self, block: int) -> None:
        ### BEGIN SOLUTION
        self.check(block)
        self.refcounts[block] += 1
        ### END SOLUTION

    def free(self, block: int) -> None:
        ### BEGIN SOLUTION
        self.check(block)
        if self.refcounts[block] == 0:
            raise DoubleFree(f"block {block} is already free")
        self.refcounts[block] -= 1
        if self.refcounts[block] == 0:
            self.free_list.append(block)
        ### END SOLUTION

    def refcount(self, block: int) -> int:
        ### BEGIN SOLUTION
        self.check(block)
        return self.refcounts[block]
        ### END SOLUTION

# %% kind="test" id="test_allocator" points=3
a = BlockAllocator(3, 16)
blocks = [a.allocate() for _ in range(3)]
assert sorted(blocks) == [0, 1, 2], f"three allocate() calls on a pool of 3 blocks returned {blocks}, expected 0, 1, 2"
assert a.num_free == 0, f"after allocating all 3 blocks num_free is {a.num_free!r}, expected 0"
try:
    a.allocate()
    raise AssertionError("allocate() on a pool with no free block returned: it must raise OutOfBlocks")
except OutOfBlocks:
    pass
a.incref(blocks[0]); a.free(blocks[0])
assert a.refcount(blocks[0]) == 1, \
    f"allocate, incref, free: block {blocks[0]} has refcount {a.refcount(blocks[0])!r}, expected 1 (one owner left)"
assert a.num_free == 0, f"a block with an owner left must not be free: num_free is {a.num_free!r}, expected 0"
a.free(blocks[0])
assert a.num_free == 1, f"after its last owner frees block {blocks[0]}, num_free is {a.num_free!r}, expected 1"
### BEGIN HIDDEN TESTS
assert type(a.num_free) is int and type(a.refcount(blocks[1])) is int, "counts are ints"
from mlsys_kit.kvcache.allocator import BlockAllocator as _RefAlloc


def _raises(exc, fn, *args):
    try:
        fn(*args)
    except exc:
        return True
    return False


assert _raises(DoubleFree, a.free, blocks[0])
for bad in (-1, 3, 1.0, "0", None, True):
    assert _raises(ForeignBlock, a.free, bad) and _raises(ForeignBlock, a.refcount, bad), bad
    assert _raises(ForeignBlock, a.incref, bad), bad
assert a.allocate() == blocks[0]  # the freed block is reused
# against the reference allocator on this student's own draws: pools of every size, any block size,
# allocate / incref / free in any order (double frees and a full pool included); after every step the
# reference counts and num_free are compared, what allocate() hands out must be the reference's block
# (the free stack's order), and the stack itself at the end of each run
_rng = student_rng("allocator")
for _trial in range(30):
    _n = _rng.choice([1, 1, 2, 3, 4, 6, 8, _rng.randint(9, 40)])
    _al = BlockAllocator(_n, _rng.randint(1, 64))
    _ref, _log = _RefAlloc(_n, _al.block_size), []
    for _step in range(_rng.randint(0, 40)):
        _op = _rng.choice("aaaiff")
        if _op == "a":
            if _ref.num_free == 0:
                _log.append("allocate")
                assert _raises(OutOfBlocks, _al.allocate), f"{_log}: allocate() on a full pool must raise OutOfBlocks"
                continue
            _got, _want = _al.allocate(), _ref.allocate()
            _log.append(f"allocate -> {_got}")
            assert type(_got) is int and _got == _want, f"{_log}: allocate() should hand out block {_want} (top of the stack)"
        elif _op == "i":
            _live = [b for b in range(_n) if _ref.refcounts[b] > 0]
            if _live:
                _b = _rng.choice(_live)
                _log.append(f"incref({_b})")
                _al.incref(_b); _ref.incref(_b)
        else:
            _b = _rng.randrange(_n)
            _log.append(f"free({_b})")
            if _ref.refcounts[_b] == 0:
                assert _raises(DoubleFree, _al.free, _b), f"{_log}: freeing a free block must raise DoubleFree"
            else:
                _al.free(_b); _ref.free(_b)
        assert _al.refcounts == _ref.refcounts, f"{_log}: refcounts {_al.refcounts}, expected {_ref.refcounts}"
        _nf = _al.num_free
        assert type(_nf) is int and _nf == _ref.num_free, f"{_log}: num_free {_nf!r}, expected {_ref.num_free}"
    assert _al.free_list == _ref.free_list, f"{_log}: free_list {_al.free_list}, expected {_ref.free_list}"
### END HIDDEN TESTS

# %% [markdown] id="md-append"
# ## 2. Block tables (3 points)
#
# `BlockManager` keeps, per sequence, its block table (`self.tables[seq_id]`, a list of physical
# blocks) and its length in tokens (`self.lengths[seq_id]`). `append(seq_id, n)` adds `n` tokens
# (creating the sequence on first use) and allocates a new block only when the last one is full,
# so a sequence of `L` tokens holds exactly `ceil(L / block_size)` blocks. It must be **all or nothing**:
# if the pool cannot hold the whole append, raise `OutOfBlocks` and change nothing.
# `blocks_needed(seq_id, n)` says how many free blocks an append would take (part 3 adds one for a
# copy-on-write). `free(seq_id)` releases a finished sequence. `append` returns the list of
# copy-on-write copies it made (empty until part 3).

# %% kind="solution" id="block_manager"
class BlockManager:
    def __init__(self, allocator: BlockAllocator):
        self.allocator = allocator
        self.block_size = allocator.block_size
        self.tables = {}   # seq_id -> list of physical block ids
        self.lengths = {}  # seq_id -> tokens stored

    def last_block_shared(self, seq_id) -> bool:
        """Is the sequence's last block partly filled and shared with another sequence?"""
        length = self.lengths.get(seq_id, 0)
        return length % self.block_size != 0 and self.allocator.refcount(self.tables[seq_id][-1]) > 1

    def blocks_needed(self, seq_id, n: int) -> int:
        ### BEGIN SOLUTION
        length = self.lengths.get(seq_id, 0)
        new_blocks = -(-(length + n) // self.block_size) - -(-length // self.block_size)
        return new_blocks + int(n > 0 and self.last_block_shared(seq_id))
        ### END SOLUTION

    def append(self, seq_id, n: int) -> list:
        ### BEGIN SOLUTION
        if self.blocks_needed(seq_id, n) > self.allocator.num_free:
            raise OutOfBlocks(f"appending {n} tokens to {seq_id!r} needs more than {self.allocator.num_free} free blocks")
        table = self.tables.setdefault(seq_id, [])
        length = self.lengths.get(seq_id, 0)
        copies = []
        if n > 0 and self.last_block_shared(seq_id):
            copies.append(self.copy_on_write(seq_id))
        while len(table) * self.block_size < length + n:
            table.append(self.allocator.allocate())
        self.lengths[seq_id] = length + n
        return copies
        ### END SOLUTION

    def free(self, seq_id) -> None:
        ### BEGIN SOLUTION
        for block in self.tables.pop(seq_id):
            self.allocator.free(block)
        del self.lengths[seq_id]
        ### END SOLUTION

# %% kind="test" id="test_block_manager" points=3
m = BlockManager(BlockAllocator(8, 4))
_got = m.append("a", 3)
assert _got == [], f"append returns the copy-on-write copies it made: none here, got {_got!r}"
assert len(m.tables["a"]) == 1, f"3 tokens in blocks of 4: tables['a'] is {m.tables['a']}, expected 1 block"
m.append("a", 1)
assert len(m.tables["a"]) == 1, f"4 tokens exactly fill one block of 4: tables['a'] is {m.tables['a']}, expected 1 block"
m.append("a", 1)
assert len(m.tables["a"]) == 2 and m.lengths["a"] == 5, \
    f"5 tokens in blocks of 4: tables['a'] is {m.tables['a']} and lengths['a'] {m.lengths['a']}, expected 2 blocks, 5"
_got = m.blocks_needed("b", 9)
assert _got == 3, f"blocks_needed('b', 9) for a new sequence in blocks of 4 is {_got!r}, expected ceil(9 / 4) = 3"
m.free("a")
assert m.allocator.num_free == 8, f"after free('a') the pool has {m.allocator.num_free} free blocks, expected all 8"
### BEGIN HIDDEN TESTS
m.append("a", 3)  # the same id again after free: a new sequence of 3 tokens, nothing stale
assert m.lengths["a"] == 3 and len(m.tables["a"]) == 1 and type(m.blocks_needed("a", 2)) is int
m.free("a")
import copy
from mlsys_kit.kvcache.allocator import BlockAllocator as _RefAlloc, OutOfBlocks as _RefOOB
from mlsys_kit.kvcache.block_table import BlockManager as _RefManager


def _check_invariants(m, alloc, B, where):
    """One read of each table: every sequence holds ceil(L / B) blocks, counts equal owners, no leak."""
    tables, lengths, refcounts = m.tables, m.lengths, alloc.refcounts
    assert set(tables) == set(lengths), f"{where}: tables and lengths hold other sequences: {tables}, {lengths}"
    owners = {}
    for sid, table in tables.items():
        assert len(table) == -(-lengths[sid] // B), f"{where}: sequence {sid!r} of {lengths[sid]} tokens holds {table}"
        for b in table:
            owners[b] = owners.get(b, 0) + 1
    assert refcounts == [owners.get(b, 0) for b in range(len(refcounts))], \
        f"{where}: refcounts {refcounts} != owners per block {owners}"
    free = alloc.num_free
    assert free == len(refcounts) - len(owners), f"{where}: num_free {free} with {len(owners)} of {len(refcounts)} used"
    return tables, lengths


# random appends and frees against the reference block manager, on this student's own draws: any pool and
# block size, sequence ids of several types reused after they are freed, appends that just fit, overflow
# or land on a block boundary
_rng = student_rng("appends")
for _trial in range(30):
    _n, _B = _rng.randint(1, 10), _rng.choice([1, 2, 3, 4, 5, _rng.randint(6, 32)])
    _alloc = BlockAllocator(_n, _B)
    m, _ref = BlockManager(_alloc), _RefManager(_RefAlloc(_n, _B))
    _ids = _rng.sample([0, 1, 2, "a", "b", ("req", 7), 10**12], 4)
    _log = [f"BlockManager(BlockAllocator({_n}, {_B}))"]
    for _step in range(_rng.randint(1, 25)):
        _live = [s for s in _ids if s in _ref.tables]
        if _live and _rng.random() < 0.3:
            _sid = _rng.choice(_live)
            _log.append(f"free({_sid!r})")
            m.free(_sid); _ref.free(_sid)
        else:
            _sid, _cnt = _rng.choice(_ids), _rng.choice([1, 1, 2, _B - 1 or 1, _B, _B + 1, _rng.randint(1, 3 * _B)])
            _log.append(f"append({_sid!r}, {_cnt})")
            _need = m.blocks_needed(_sid, _cnt)
            assert type(_need) is int and _need == _ref.blocks_needed(_sid, _cnt), \
                f"{_log}: blocks_needed {_need!r}, expected {_ref.blocks_needed(_sid, _cnt)}"
            try:
                _ref.append(_sid, _cnt)
                _oob = False
            except _RefOOB:
                _oob = True
            if _oob:  # a copy: m.tables is updated in place by the calls that follow
                _before = copy.deepcopy((m.tables, m.lengths, _alloc.refcounts))
            try:
                _got = m.append(_sid, _cnt)
                assert not _oob, f"{_log}: the pool cannot hold this append: raise OutOfBlocks"
                assert _got == [], f"{_log}: no sequence is shared, so no copies: got {_got!r}"
            except OutOfBlocks:
                assert _oob, f"{_log}: OutOfBlocks raised although the append fits"
                assert (m.tables, m.lengths, _alloc.refcounts) == _before, f"{_log}: a failed append must change nothing"
        _tables, _lengths = _check_invariants(m, _alloc, _B, _log)
        assert _lengths == _ref.lengths and {s: len(t) for s, t in _tables.items()} == \
            {s: len(t) for s, t in _ref.tables.items()}, f"{_log}: lengths {_lengths}, expected {_ref.lengths}"
### END HIDDEN TESTS

# %% [markdown] id="md-cow"
# ## 3. Fork and copy-on-write (3 points)
#
# Parallel sampling and beam search start several sequences from one prompt. `fork(parent, child)`
# makes the child share **every** block of the parent (add an owner to each). Full blocks are
# never written again, so they can stay shared forever; but the next token of either sequence is
# written into the last, partly filled block. The first such write must go to a private copy:
# `copy_on_write(seq_id)` allocates a new block, drops the sequence's reference to the shared one,
# points the table at the copy, and returns `(src, dst)` so that the model runner copies the K/V
# data (Figure 8 of the paper). `append` (part 2) already calls it when `last_block_shared`.

# %% kind="solution" id="fork_cow"
def fork(self, parent_id, child_id) -> None:
    ### BEGIN SOLUTION
    for block in self.tables[parent_id]:
        self.allocator.incref(block)
    self.tables[child_id] = list(self.tables[parent_id])
    self.lengths[child_id] = self.lengths[parent_id]
    ### END SOLUTION


def copy_on_write(self, seq_id) -> tuple:
    ### BEGIN SOLUTION
    table = self.tables[seq_id]
    src = table[-1]
    dst = self.allocator.allocate()
    self.allocator.free(src)
    table[-1] = dst
    return (src, dst)
    ### END SOLUTION


BlockManager.fork = fork
BlockManager.copy_on_write = copy_on_write

# %% kind="test" id="test_fork_cow" points=3
m = BlockManager(BlockAllocator(8, 4))
m.append("p", 6)                      # one full block, one half-filled
m.fork("p", "c")
assert len(m.tables["p"]) == 2, f"6 tokens in blocks of 4: tables['p'] is {m.tables['p']}, expected 2 blocks"
full, part = m.tables["p"]
assert m.tables["c"] == [full, part], f"fork('p', 'c'): tables['c'] is {m.tables['c']}, expected p's blocks {[full, part]}"
assert m.allocator.refcount(part) == 2, f"after the fork block {part} has {m.allocator.refcount(part)} owners, expected 2"
copies = m.append("c", 1)
assert len(copies) == 1 and copies[0][0] == part, \
    f"c's first write goes into the shared, half-filled block {part}: append should return [({part}, new block)], got {copies!r}"
assert m.tables["c"] == [full, copies[0][1]] and m.allocator.refcount(part) == 1, \
    f"after copy-on-write tables['c'] is {m.tables['c']} and block {part} has {m.allocator.refcount(part)} owners, " \
    f"expected [{full}, {copies[0][1]}] and 1 (p alone)"
_got = m.append("p", 1)
assert _got == [], f"p owns its last block alone now: append('p', 1) should copy nothing, returned {_got!r}"
### BEGIN HIDDEN TESTS
_m2 = BlockManager(BlockAllocator(8, 4))
_m2.append("p", 6)
_m2.fork("p", "c")
assert _m2.blocks_needed("c", 0) == 0 and _m2.blocks_needed("c", 1) == 1 and type(_m2.blocks_needed("c", 1)) is int
assert _m2.append("c", 0) == [] and _m2.tables["c"] == _m2.tables["p"], "appending nothing copies nothing"
_cw = _m2.copy_on_write("c")
assert type(_cw) is tuple and len(_cw) == 2 and _m2.tables["c"][-1] == _cw[1]
# fixed cases for the paths random runs seldom take: a fork whose last block is full (no copy, a new block),
# the parent freed before the child writes (the child owns the block alone then: no copy), a fork of a fork
# (three owners, one copy leaves two), the child's table a list of its own (the parent's does not grow)
_m3 = BlockManager(BlockAllocator(10, 2))
_m3.append(0, 4)
_m3.fork(0, 1)
assert _m3.blocks_needed(1, 1) == 1 and _m3.append(1, 1) == [], "a full last block is never written: no copy"
assert len(_m3.tables[0]) == 2 and len(_m3.tables[1]) == 3, "the child's table must be a list of its own"
assert _m3.allocator.refcounts[_m3.tables[0][0]] == 2 and _m3.allocator.refcounts[_m3.tables[1][2]] == 1
_m3.append(0, 1)
_m3.fork(0, 2)
_m3.fork(2, 3)
_last = _m3.tables[0][-1]
assert _m3.allocator.refcount(_last) == 3, "a fork of a fork: three owners of the half-filled block"
assert _m3.blocks_needed(3, 1) == 1 and len(_m3.append(3, 1)) == 1 and _m3.allocator.refcount(_last) == 2
_m3.free(0)
assert _m3.allocator.refcount(_last) == 1 and _m3.append(2, 1) == [], "the last owner writes in place"
_m3.free(2)
_m3.free(1)
_m3.free(3)
assert _m3.allocator.num_free == 10 and _m3.allocator.refcounts == [0] * 10, "every block back after the frees"
from mlsys_kit.kvcache.allocator import BlockAllocator as _RefAlloc, OutOfBlocks as _RefOOB
from mlsys_kit.kvcache.block_table import BlockManager as _RefManager

# random appends, forks and frees against the reference, on this student's own draws, with a simulated
# K/V memory: each write lands in the block the table names, so a write into a shared block, or a copy
# that is not made, shows up as another sequence's tokens changing
_rng = student_rng("forks")
for _trial in range(30):
    _n, _B = _rng.randint(1, 10), _rng.randint(1, 4)
    _alloc = BlockAllocator(_n, _B)
    m, _ref = BlockManager(_alloc), _RefManager(_RefAlloc(_n, _B))
    _mem = {b: [None] * _B for b in range(_n)}  # simulated K/V memory: (seq, position) per slot
    _content, _next, _log = {}, 0, [f"BlockManager(BlockAllocator({_n}, {_B}))"]
    for _step in range(_rng.randint(1, 30)):
        _live = sorted(_content)
        _op = _rng.choice("aaeekf")
        if _op == "f" and _live:
            _sid = _rng.choice(_live)
            _log.append(f"free({_sid})")
            m.free(_sid); _ref.free(_sid); del _content[_sid]
        elif _op == "k" and _live:
            _parent = _rng.choice(_live)
            _log.append(f"fork({_parent}, {_next})")
            m.fork(_parent, _next); _ref.fork(_parent, _next)
            _content[_next] = list(_content[_parent])
            _next += 1
        else:
            if _op == "a" or not _live:
                _sid, _next = _next, _next + 1
            else:
                _sid = _rng.choice(_live)
            _cnt = _rng.randint(1, 6)
            _log.append(f"append({_sid}, {_cnt})")
            _need = m.blocks_needed(_sid, _cnt)
            assert _need == _ref.blocks_needed(_sid, _cnt), f"{_log}: blocks_needed {_need}, expected {_ref.blocks_needed(_sid, _cnt)}"
            try:
                _ref_copies = _ref.append(_sid, _cnt)
            except _RefOOB:
                _ref_copies = None
            try:
                _copies = m.append(_sid, _cnt)
            except OutOfBlocks:
                assert _ref_copies is None, f"{_log}: OutOfBlocks raised although the append fits"
                continue
            assert _ref_copies is not None, f"{_log}: the pool cannot hold this append: raise OutOfBlocks"
            assert type(_copies) is list and len(_copies) == len(_ref_copies), \
                f"{_log}: copy-on-write exactly when the last block is shared: {_copies!r}"
            for _src, _dst in _copies:
                _mem[_dst] = list(_mem[_src])
            _table, _start = m.tables[_sid], len(_content.get(_sid, []))
            _refc = _alloc.refcounts
            _content[_sid] = _content.get(_sid, []) + [(_sid, _start + i) for i in range(_cnt)]
            for _pos in range(_start, _start + _cnt):
                _block = _table[_pos // _B]
                assert _refc[_block] == 1, f"{_log}: token {_pos} of {_sid} written into shared block {_block}"
                _mem[_block][_pos % _B] = _content[_sid][_pos]
        _tables, _lengths, _refc = m.tables, m.lengths, _alloc.refcounts
        assert _alloc.num_free == _ref.allocator.num_free, f"{_log}: num_free differs from the reference"
        _owners = {}
        for _sid, _table in _tables.items():
            assert [_mem[_table[p // _B]][p % _B] for p in range(_lengths[_sid])] == _content[_sid], \
                f"{_log}: sequence {_sid}'s K/V was overwritten"
            for b in _table:
                _owners[b] = _owners.get(b, 0) + 1
        assert _refc == [_owners.get(b, 0) for b in range(_n)], f"{_log}: refcounts {_refc} != owners {_owners}"
### END HIDDEN TESTS

# %% [markdown] id="md-prefix"
# ## 4. Prefix caching (3 points, the hardest part)
#
# Requests often start with the same tokens (a system prompt). A **full** block is identified by
# a chained hash `block_hash(parent_hash, token_ids)`: SHA-256 over the length of the parent hash
# as 4 little-endian unsigned bytes (`struct.pack("<I", len(parent))`), the bytes of the parent
# hash, then the token ids, each as 8 little-endian signed bytes (`struct.pack("<%dq" % n, *ids)`);
# the first block's parent hash is `b""` (the length first keeps two different parents from
# giving the same bytes). Do not use Python's `hash()`: it differs between processes, and a cache
# key must not.
#
# `CachingAllocator` extends the allocator: `insert(h, tokens, block)` indexes a full, live block
# (the first block with a given hash wins); `lookup(h, tokens)` returns a cached block with one
# more reference, or `None`. A hit must be **confirmed by comparing the token ids** (a hash
# collision must never hand out a block holding other tokens); count `hits` and `misses`.
# When a cached block's last owner frees it, it stays in the pool as *evictable* (in
# `self.evictable`, least recently freed first) so a later request can still hit it; `allocate()`
# takes a plain free block when there is one and evicts the least recently freed cached block
# only when there is not (un-index it, count `evictions`). Evictable blocks count as free.

# %% kind="solution" id="prefix_cache"
import hashlib
import struct


def block_hash(parent: bytes, token_ids) -> bytes:
    ### BEGIN SOLUTION
    h = hashlib.sha256()
    h.update(struct.pack("<I", len(parent)))
    h.update(parent)
    h.update(struct.pack("<%dq" % len(token_ids), *token_ids))
    return h.digest()
    ### END SOLUTION


class CachingAllocator(BlockAllocator):
    def __init__(self, num_blocks: int, block_size: int):
        super().__init__(num_blocks, block_size)
        self.evictable = OrderedDict()  # free blocks still holding a cached prefix, oldest first
        self.index = {}                 # hash -> block
        self.entry = {}                 # block -> (hash, tuple of token ids)
        self.hits = self.misses = self.evictions = 0

    @property
    def num_free(self) -> int:
        ### BEGIN SOLUTION
        return len(self.free_list) + len(self.evictable)
        ### END SOLUTION

    def allocate(self) -> int:
        ### BEGIN SOLUTION
        if not self.free_list and self.evictable:
            block, _ = self.evictable.popitem(last=False)
            h, _ = self.entry.pop(block)
            del self.index[h]
            self.evictions += 1
            self.free_list.append(block)
        return super().allocate()
        ### END SOLUTION

    def free(self, block: int) -> None:
        ### BEGIN SOLUTION
        super().free(block)
        if self.refcounts[block] == 0 and block in self.entry:
            self.free_list.pop()  # super().free just pushed it: keep it out of the plain pool
            self.evictable[block] = None
        ### END SOLUTION

    def insert(self, h: bytes, token_ids, block: int) -> None:
        ### BEGIN SOLUTION
        if h in self.index or block in self.entry:
            return
        self.index[h] = block
        self.entry[block] = (h, tuple(token_ids))
        ### END SOLUTION

    def lookup(self, h: bytes, token_ids):
        ### BEGIN SOLUTION
        block = self.index.get(h)
        if block is None or self.entry[block][1] != tuple(token_ids):
            self.misses += 1
            return None
        self.hits += 1
        if block in self.evictable:
            del self.evictable[block]
            self.refcounts[block] = 1
        else:
            self.refcounts[block] += 1
        return block
        ### END SOLUTION

# %% kind="test" id="test_prefix_cache" points=3
h1 = block_hash(b"", [1, 2])
assert type(h1) is bytes and len(h1) == 32, f"block_hash returns the 32-byte SHA-256 digest, got {h1!r}"
assert h1 != block_hash(b"", [2, 1]), "block_hash(b'', [1, 2]) == block_hash(b'', [2, 1]): the order of the tokens must count"
assert block_hash(h1, [3, 4]) != block_hash(b"", [3, 4]), "the same tokens after another parent must hash differently"
ca = CachingAllocator(3, 2)
b = ca.allocate()
ca.insert(h1, [1, 2], b)
_got = ca.lookup(h1, [1, 2])
assert _got == b, f"lookup of the tokens just inserted in block {b} returned {_got!r}"
assert ca.refcount(b) == 2 and ca.hits == 1, \
    f"a hit takes a reference and counts: refcount {ca.refcount(b)}, hits {ca.hits}, expected 2 and 1"
ca.free(b); ca.free(b)
assert ca.num_free == 3, f"an evictable block counts as free: num_free is {ca.num_free}, expected 3"
_got = ca.lookup(h1, [1, 2])
assert _got == b, f"block {b} is still cached after its owners finished: lookup returned {_got!r}"
assert ca.refcount(b) == 1 and ca.hits == 2 and ca.num_free == 2, \
    f"a hit on an evictable block revives it: refcount {ca.refcount(b)}, hits {ca.hits}, num_free {ca.num_free}, " \
    "expected 1, 2 and 2"
### BEGIN HIDDEN TESTS
_ca3 = CachingAllocator(2, 2)  # misses are counted too, and free blocks are an int
assert _ca3.lookup(block_hash(b"", [9, 9]), [9, 9]) is None and _ca3.misses == 1 and _ca3.hits == 0
assert _ca3.lookup(block_hash(b"", [8]), [8]) is None and _ca3.misses == 2
assert type(_ca3.num_free) is int and _ca3.num_free == 2
from mlsys_kit.kvcache.allocator import BlockAllocator as _RefAlloc
from mlsys_kit.kvcache.prefix_cache import block_hash as _ref_hash
from mlsys_kit.kvcache.prefix_cache import PrefixCache as _RefCache

# the specified SHA-256 chain, on this student's own parents and tokens (lists or tuples, left as they are)
_rng = student_rng("hash")
_cases = [(b"", []), (b"parent", [0]), (b"", [5, -1, 2**40]), (bytes(32), list(range(17))), (b"p", (3, 4))]
_cases += [(_rng.randbytes(_rng.choice([0, 32, _rng.randint(1, 40)])),
            [_rng.randint(-2**63, 2**63 - 1) if _rng.random() < 0.2 else _rng.randint(0, 50000)
             for _ in range(_rng.randint(0, 20))]) for _ in range(30)]
same_as_reference(block_hash, _ref_hash, _cases)
assert ca.lookup(h1, [9, 9]) is None, "a hash hit with other tokens is a miss"
ca2 = CachingAllocator(4, 2)
bs = [ca2.allocate() for _ in range(3)]  # one block stays plainly free
for i, b in enumerate(bs):
    ca2.insert(block_hash(b"", [i, i]), [i, i], b)
for b in bs:
    ca2.free(b)                          # freed in the order bs[0], bs[1], bs[2]
assert ca2.num_free == 4
x = ca2.allocate()
assert x not in bs and ca2.evictions == 0, "evict a cached block only when no plain free block is left"
y = ca2.allocate()
assert y == bs[0] and ca2.evictions == 1, "evict the least recently freed cached block first"
assert ca2.lookup(block_hash(b"", [0, 0]), [0, 0]) is None, "an evicted block is no longer cached"
assert ca2.lookup(block_hash(b"", [1, 1]), [1, 1]) == bs[1] and ca2.refcount(bs[1]) == 1
# a revived block freed again is the most recently freed; an eviction un-indexes the block, which is then
# reused and cached again under another hash; the counters after each of these events
_c4 = CachingAllocator(3, 2)
_b0, _b1 = _c4.allocate(), _c4.allocate()
_h0, _h1, _h2 = block_hash(b"", [0, 0]), block_hash(b"", [1, 1]), block_hash(b"", [2, 2])
_c4.insert(_h0, [0, 0], _b0); _c4.insert(_h1, [1, 1], _b1)
_c4.free(_b0); _c4.free(_b1)                      # evictable, least recently freed first: b0, b1
assert list(_c4.evictable) == [_b0, _b1]
assert _c4.lookup(_h0, [0, 0]) == _b0 and _c4.hits == 1 and _c4.refcount(_b0) == 1 and _b0 not in _c4.evictable
_c4.free(_b0)                                     # now b1 is the least recently freed
assert list(_c4.evictable) == [_b1, _b0] and _c4.num_free == 3
_x, _y = _c4.allocate(), _c4.allocate()           # a plain free block first, then an eviction
assert _x not in (_b0, _b1) and _y == _b1 and _c4.evictions == 1, (_x, _y, _c4.evictions)
assert _h1 not in _c4.index and _b1 not in _c4.entry and list(_c4.evictable) == [_b0], "eviction un-indexes the block"
_c4.insert(_h2, [2, 2], _y)                       # the evicted block, reused, holds new tokens
assert _c4.index.get(_h2) == _y and _c4.entry.get(_y) == (_h2, (2, 2)), "a reused block can be cached again"
assert _c4.lookup(_h1, [1, 1]) is None and _c4.misses == 1 and _c4.lookup(_h2, [2, 2]) == _y and _c4.hits == 2
_c4.free(_y); _c4.free(_y)
assert list(_c4.evictable) == [_b0, _y] and _c4.num_free == 2 and _c4.evictions == 1
# insert: the first block with a hash wins, a block stays under its first hash, and the tokens are kept
# as they were (the caller's list may change afterwards)
_c5 = CachingAllocator(3, 2)
_p, _q = _c5.allocate(), _c5.allocate()
_toks = [4, 5]
_c5.insert(_h0, _toks, _p)
_toks[0] = 9                                      # the caller reuses its list
_c5.insert(_h0, [6, 6], _q)                       # same hash, another block: ignored
_c5.insert(_h1, [4, 5], _p)                       # same block, another hash: ignored
assert _c5.index == {_h0: _p} and _c5.entry == {_p: (_h0, (4, 5))}, (_c5.index, _c5.entry)
assert _c5.lookup(_h0, [4, 5]) == _p and _c5.lookup(_h0, [9, 5]) is None and _c5.lookup(_h0, [6, 6]) is None
assert (_c5.hits, _c5.misses) == (1, 2)

# random operations against the reference allocator + prefix cache, on this student's own draws: tokens from
# a tiny alphabet so that hits are common, hashes from a deliberately weak function so that collisions
# happen; every counter is read after the event that changes it, the whole state at the end of each run
weak = lambda toks: bytes([sum(toks) % 3])
for _trial in range(30):
    _n = _rng.randint(1, 6)
    al, ref = CachingAllocator(_n, 2), _RefAlloc(_n, 2)
    rc = _RefCache(ref)
    held, ref_held, holds, _log = [], [], {}, [f"CachingAllocator({_n}, 2)"]
    for _step in range(_rng.randint(1, 40)):
        _op, _k = _rng.choice("aaffilc"), _rng.randint(0, 99)
        toks = [_k % 2, (_k // 2) % 2]
        if _op == "a":
            _log.append("allocate")
            try:
                rb = ref.allocate()
            except Exception:
                rb = None
            try:
                b = al.allocate()
            except OutOfBlocks:
                assert rb is None, f"{_log}: OutOfBlocks although a block is free or evictable"
                continue
            assert rb is not None, f"{_log}: allocated from a full pool"
            assert b == rb, f"{_log}: allocate() gave block {b}, expected {rb} (a plain free block first, else the LRU one)"
            holds[b] = None
            held.append(b); ref_held.append(rb)
            assert al.evictions == ref.evictions, f"{_log}: evictions {al.evictions}, expected {ref.evictions}"
        elif _op == "f" and held:
            i = _k % len(held)
            _log.append(f"free({held[i]})")
            al.free(held.pop(i)); ref.free(ref_held.pop(i))
        elif _op == "i" and held:
            i = _k % len(held)
            if holds.get(held[i]) is None:  # write tokens once, then index the full block
                _log.append(f"insert({weak(toks)!r}, {toks}, {held[i]})")
                holds[held[i]] = tuple(toks)
                al.insert(weak(toks), toks, held[i])
                rc.insert(weak(toks), toks, ref_held[i], -1)
        elif _op in "lc":
            _log.append(f"lookup({weak(toks)!r}, {toks})")
            b, rb = al.lookup(weak(toks), toks), rc.lookup(weak(toks), toks, -1)
            assert b == rb, f"{_log}: lookup returned {b!r}, expected {rb!r}"
            assert (al.hits, al.misses) == (rc.hits, rc.misses), \
                f"{_log}: hits, misses = {al.hits}, {al.misses}, expected {rc.hits}, {rc.misses}"
            if rb is not None:
                assert holds[b] == tuple(toks), f"{_log}: a hit handed out a block holding other tokens"
                held.append(b); ref_held.append(rb)
        assert al.refcounts == ref.refcounts and al.num_free == ref.num_free, \
            f"{_log}: refcounts {al.refcounts}, num_free {al.num_free}, expected {ref.refcounts}, {ref.num_free}"
        for b in list(holds):
            if ref.refcounts[b] == 0 and b not in ref.evictable:
                holds[b] = None  # a plain free block's contents are gone
    assert (al.free_list, list(al.evictable), al.index) == (ref.free_list, list(ref.evictable), rc.index), \
        f"{_log}: free_list, evictable and index differ from the reference's"
    assert al.entry == {b: (h, t) for b, (h, _parent, t) in rc.entry.items()}, f"{_log}: entry {al.entry}"
### END HIDDEN TESTS

# %% [markdown] id="md-waste"
# ## 5. How much memory is wasted? (2 points)
#
# For sequences of the given lengths, what fraction of the allocated KV slots holds real tokens
# (a) with **static reservation** of `max_len` slots per sequence, and (b) with **paging** in
# blocks of `block_size`? Then run the sweep below and explain the trade-off: small blocks waste
# little in the last block but make block tables (and the attention kernel's gathers) longer.

# %% kind="solution" id="waste"
def static_utilization(lengths, max_len: int) -> float:
    ### BEGIN SOLUTION
    return sum(lengths) / (len(lengths) * max_len)
    ### END SOLUTION


def paged_utilization(lengths, block_size: int) -> float:
    ### BEGIN SOLUTION
    return sum(lengths) / sum(-(-n // block_size) * block_size for n in lengths)
    ### END SOLUTION

# %% kind="test" id="test_waste" points=2
_got = static_utilization([10, 30], 40)
assert _got == 0.5, f"static_utilization([10, 30], 40) = {_got!r}, expected (10 + 30) / (2 x 40) = 0.5"
_got = paged_utilization([16, 17], 16)
assert _got == 33 / 48, f"paged_utilization([16, 17], 16) = {_got!r}, expected 33 tokens / 48 slots (1 + 2 blocks of 16)"
### BEGIN HIDDEN TESTS
from mlsys_kit.kvcache.accounting import waste_report as _waste
assert paged_utilization([1, 1, 1], 1) == 1.0 and paged_utilization([5], 8) == 5 / 8
# the reference's waste report on this student's own workloads: every block size and reservation, the
# lengths in any order (a list or a tuple, left as they are)
_rng = student_rng("waste")
_static, _paged, _want = [], [], {}
for _ in range(20):
    work = [(_rng.randint(1, 50), _rng.randint(1, 50)) for _ in range(_rng.randint(1, 20))]
    lengths = [p + t for p, o in work for t in range(o + 1)]
    for B, max_len in ((_rng.choice([1, 2, 16]), max(lengths)), (_rng.randint(3, 64), _rng.randint(max(lengths) + 1, 300))):
        rep = _waste(B, len(work), max_len=max_len, workload=work)
        for _ls in (lengths, tuple(sorted(lengths, reverse=True)), _rng.sample(lengths, len(lengths))):
            _static.append((_ls, max_len)); _paged.append((_ls, B))
            _want[repr(_static[-1])], _want[repr(_paged[-1])] = rep["static_utilization"], rep["paged_utilization"]
same_as_reference(static_utilization, lambda *args: _want[repr(args)], _static, rel=1e-12)
same_as_reference(paged_utilization, lambda *args: _want[repr(args)], _paged, rel=1e-12)
### END HIDDEN TESTS

# %% kind="locked" id="sweep" judge=false
# The sweep (not graded): ShareGPT-like lengths, 2048-token reservation
import random
import matplotlib.pyplot as plt

rng = random.Random(0)
lengths = [min(2048, max(1, int(rng.lognormvariate(5.7, 1.0)))) for _ in range(1000)]
sizes = [1, 2, 4, 8, 16, 32, 64, 128, 256]
try:
    util = [paged_utilization(lengths, b) for b in sizes]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(sizes, util, "o-", label="paged")
    ax.axhline(static_utilization(lengths, 2048), color="red", ls="--", label="static reservation")
    ax.set_xscale("log", base=2); ax.set_xlabel("block size"); ax.set_ylabel("KV memory holding tokens")
    ax.set_ylim(0, 1.05); ax.legend()
    plt.show()
except NotImplementedError:
    print("fill in part 5 to see the sweep")

# %% [markdown] id="md-design"
# ## 6. Design question: how many more requests does paging fit? (4 points)
#
# A pool of `pool_slots` KV token slots serves requests that each reach `length` tokens. **Static
# reservation** sets aside `max_len` slots per request; **paging** cuts the pool into blocks of
# `block_size` slots (`pool_slots // block_size` whole blocks) and gives each request the blocks
# its `length` tokens fill, the last one perhaps partly.
#
# Write `extra_sequences(pool_slots, length, max_len, block_size)`: how many more requests fit at
# once with paging than with static reservation (an `int`, negative if fewer; all arguments
# positive ints, `length <= max_len`, `block_size <= pool_slots`). Then, in the cell below your
# function, set with it the answer for the setting of the setup cell (`DESIGN_POOL_SLOTS`, `DESIGN_LENGTH`,
# `DESIGN_MAX_LEN`) with blocks of 16 slots in `ANSWER_EXTRA_B16` and of 256 slots in
# `ANSWER_EXTRA_B256` (2 points, autograded).
#
# Then answer in the cell at the end of this section, in a few sentences (2 points, graded by hand):
# **vLLM's default block size is 16. Using your two answers, your sweep above and what you know
# about the attention kernel: why not 256, and why not 1?**

# %% kind="solution" id="design"
def extra_sequences(pool_slots: int, length: int, max_len: int, block_size: int) -> int:
    ### BEGIN SOLUTION
    static = pool_slots // max_len
    paged = (pool_slots // block_size) // -(-length // block_size)
    return paged - static
    ### END SOLUTION

# %% kind="solution" id="design_answers"
### BEGIN SOLUTION
ANSWER_EXTRA_B16 = extra_sequences(DESIGN_POOL_SLOTS, DESIGN_LENGTH, DESIGN_MAX_LEN, 16)
ANSWER_EXTRA_B256 = extra_sequences(DESIGN_POOL_SLOTS, DESIGN_LENGTH, DESIGN_MAX_LEN, 256)
### END SOLUTION
print(ANSWER_EXTRA_B16, ANSWER_EXTRA_B256)

# %% kind="test" id="test_design" points=2
_got = extra_sequences(64, 10, 32, 4)
assert type(_got) is int, f"extra_sequences(64, 10, 32, 4) should return an int (a count of requests), got {_got!r}"
assert _got == 16 // 3 - 2, (f"extra_sequences(64, 10, 32, 4) = {_got}, expected 3: 16 blocks of 4 at 3 blocks per "
                             "10-token request fit 5, against 2 reservations of 32")
try:
    _answers = (ANSWER_EXTRA_B16, ANSWER_EXTRA_B256)
except NameError as _e:
    raise AssertionError(f"run the answer cell below your function first ({_e})") from None
assert type(_answers[0]) is int and type(_answers[1]) is int, \
    f"set both answers with your function: got ANSWER_EXTRA_B16 = {_answers[0]!r}, ANSWER_EXTRA_B256 = {_answers[1]!r}"
### BEGIN HIDDEN TESTS
from mlsys_kit.kvcache.allocator import BlockAllocator as _RefBA, OutOfBlocks as _RefOOB
from mlsys_kit.kvcache.block_table import BlockManager as _RefBM


def _ref_extra(pool_slots, length, max_len, block_size):
    """Paging by filling the reference block manager with requests until it is out of blocks."""
    bm, fits = _RefBM(_RefBA(pool_slots // block_size, block_size)), 0
    while True:
        try:
            bm.append(fits, length)
        except _RefOOB:
            break
        fits += 1
    return fits - pool_slots // max_len


assert ANSWER_EXTRA_B16 == _ref_extra(14_648, 300, 2048, 16) == 41, ANSWER_EXTRA_B16
assert ANSWER_EXTRA_B256 == _ref_extra(14_648, 300, 2048, 256) == 21, ANSWER_EXTRA_B256
# fixed cases at the edges: a length that fills its blocks exactly or by one token more, blocks of
# one slot, a block as big as the pool, a pool with a partial block left over, fewer than static
_cases = [((64, 8, 32, 4), 8 - 2), ((64, 9, 32, 4), 5 - 2), ((64, 7, 32, 4), 8 - 2), ((10, 3, 3, 1), 3 - 3),
          ((100, 1, 1, 1), 0), ((100, 5, 50, 100), 1 - 2), ((67, 10, 30, 4), 16 // 3 - 2), ((66, 10, 30, 16), 4 - 2),
          ((4096, 17, 2048, 16), 128 - 2), ((4096, 16, 2048, 16), 256 - 2), ((4097, 2048, 2048, 2048), 0),
          ((14_648, 300, 2048, 1), 48 - 7), ((14_648, 2048, 2048, 16), 0), ((14_648, 300, 400, 16), 48 - 36)]
for _args, _want in _cases:
    assert _ref_extra(*_args) == _want, (_args, _ref_extra(*_args), _want)
    _got = extra_sequences(*_args)
    assert type(_got) is int and _got == _want, (_args, _got, _want)
_rng = student_rng("design")
_cases = []
for _ in range(40):
    _b = _rng.choice([1, 2, 3, 4, 8, 16, 32, 64])
    _pool = _rng.randint(_b, 3000)
    _max = _rng.randint(1, 600)
    _cases.append((_pool, _rng.choice([1, _max, _rng.randint(1, _max)]), _max, _b))
same_as_reference(extra_sequences, _ref_extra, _cases)
### END HIDDEN TESTS

# %% [markdown] kind="answer" id="q_block_size" points=2
# Paging wastes at most one partly filled block per request. With blocks of 16 the 300-token requests
# take 19 blocks (304 slots, 4 wasted), so 48 fit instead of 7 reserved ones (41 more); with blocks of
# 256 each takes 2 blocks (512 slots, 212 wasted), only 28 fit (21 more): big blocks bring back the
# internal fragmentation paging was meant to remove (the sweep's curve falls as the block grows), and
# they make sharing coarser (copy-on-write copies a whole block; prefix caching reuses only full
# blocks). Blocks of 1 waste nothing, but the block table gets one entry per token: the attention
# kernel then gathers every key and value through its own table lookup, with small scattered reads
# instead of contiguous ones that fill the GPU's memory transactions and warps, and the tables and
# the allocator's work grow 16x. 16 tokens keep the waste under one block (a few % of a typical
# request) while each block of K/V is a contiguous read that is big enough to be fast. With 8x fewer
# KV heads a block holds 8x fewer bytes, so reads get smaller per block: one would pick a bigger block.

# %% [markdown] kind="rubric" id="q_block_size_rubric"
# Rubric (2 points):
#
# * 1 point: why not 256: the waste of paging is the last, partly filled block of each request, so
#   it grows with the block size (41 vs 21 more requests here, the sweep's falling curve); AND/OR
#   coarser sharing (copy-on-write of a whole block, prefix caching only of full blocks). Half a
#   point for "more waste" without saying where the waste is (the last block).
# * 1 point: why not 1: a block table entry per token, so the attention kernel gathers K/V token by
#   token (small scattered memory reads, more table lookups, more allocator work), which makes the
#   kernel slower although no slot is wasted. Half a point for "more overhead" without naming the
#   kernel's reads or the table size.
# * Typical wrong answer (0 points for that part): "block size 1 wastes more memory" (it wastes none),
#   or "bigger blocks are faster so 256 is best" (ignores the fragmentation it measured).
