# lab12-feeding: the source of labs/source/lab12-feeding/lab12-feeding.ipynb (jupytext percent format).
# Build the notebook with `mlsys-grade build lab12-feeding`; docs/labs.md says how a lab is written.
# mlsys_grade: {"reference": ["mlsys_kit.feed.comm", "mlsys_kit.feed.cache"]}

# %% [markdown] id="intro"
# # Lab 12: keeping the devices fed
#
# A data-parallel training step stalls for two reasons outside the GPU: the gradients have to be
# all-reduced before the next forward can use them, and the next batch of samples has to be read
# from storage and prepared by the CPUs. This lab builds the models behind two fixes:
#
# 1. ByteScheduler's send order: tensors cut into chunks, the layer the next forward needs first
#    sent first;
# 2. the iteration time of a step under FIFO all-reduce and under that priority order;
# 3. the OS page cache (LRU) against CoorDL's MinIO cache for a dataset larger than memory;
# 4. two design figures computed with your functions, and a question on the partition size.
#
# Reading: ByteScheduler (Peng et al., SOSP'19), sections 2-4; CoorDL (Mohan et al., "Analyzing
# and Mitigating Data Stalls in DNN Training", VLDB'21), sections 3.3 and 4.1. The reference is
# `mlsys-kit feed comm` / `feed data` (`mlsys_kit.feed`); the functions you write carry its names.
#
# Fill in every cell that says `YOUR CODE HERE` (delete the `raise NotImplementedError()`), then run
# the test cell below it. The visible tests are a start; hidden tests check many more cases.
# Total: 20 points (18 autograded, 2 graded by hand).

# %% kind="locked" id="setup"
import math
import random

# A layer is a dict: forward and backward seconds, gradient bytes (0: a layer without parameters).
# A network is a dict: bandwidth (bytes/s per link), latency (seconds of start-up per message) and
# workers (machines in the ring all-reduce).
LAB_MODEL = [{"forward": 0.004, "backward": 0.008, "grad_bytes": 16_000_000},  # three 16 MB layers, then a
             {"forward": 0.004, "backward": 0.008, "grad_bytes": 16_000_000},  # 64 MB fully connected one
             {"forward": 0.004, "backward": 0.008, "grad_bytes": 16_000_000},  # (VGG's shape: the biggest
             {"forward": 0.001, "backward": 0.002, "grad_bytes": 64_000_000}]  # gradient is ready first)
LAB_NETWORK = {"bandwidth": 2.5e9, "latency": 0.0005, "workers": 8}  # 20 Gbit/s, 0.5 ms per message
PARTITIONS = [250_000, 1_000_000, 4_000_000, 16_000_000, 64_000_000]


def epoch_orders(n_items, epochs, seed=0):
    """The sample order of each epoch: a fresh random permutation of range(n_items) per epoch."""
    rng = random.Random(seed)
    out = []
    for _ in range(epochs):
        order = list(range(n_items))
        rng.shuffle(order)
        out.append(order)
    return out

# %% [markdown] id="md-priority"
# ## 1. Partitions and the priority order (4 points)
#
# Backward produces gradients last layer first, but the next forward needs layer 0's gradient
# first. ByteScheduler (section 3) sends the layer the forward needs soonest first, and cuts every
# tensor into chunks of `partition` bytes so that an urgent gradient overtakes a big one between
# two chunks (section 4.1).
#
# `partition_chunks(grad_bytes, partition)`: the chunk sizes of a tensor of `grad_bytes` bytes:
# full chunks of `partition` bytes, then the rest (if any) as a last, smaller chunk; an empty
# tensor has no chunks. Raise `ValueError` when `partition < 1`.
#
# `priority_order(grad_bytes, partition)`: the send order when every gradient is ready, a list of
# `(layer, chunk index, bytes)` tuples: lower layer first, a layer's chunks in order. `grad_bytes`
# is a list (one int per layer); leave it as it was.

# %% kind="solution" id="priority"
def partition_chunks(grad_bytes: int, partition: int) -> list:
    ### BEGIN SOLUTION
    if partition < 1:
        raise ValueError(f"partition must be at least 1 byte: got {partition}")
    full, rest = divmod(grad_bytes, partition)
    chunks = [partition] * full
    if rest:
        chunks.append(rest)
    return chunks
    ### END SOLUTION


def priority_order(grad_bytes: list, partition: int) -> list:
    ### BEGIN SOLUTION
    order = []
    for layer, g in enumerate(grad_bytes):
        for c, b in enumerate(partition_chunks(g, partition)):
            order.append((layer, c, b))
    return order
    ### END SOLUTION

# %% kind="test" id="test_priority" points=4
_c = partition_chunks(10, 4)
assert type(_c) is list and _c == [4, 4, 2], f"partition_chunks(10, 4) is {_c!r}, expected [4, 4, 2]"
_o = priority_order([5, 0, 8], 4)
_want = [(0, 0, 4), (0, 1, 1), (2, 0, 4), (2, 1, 4)]
assert type(_o) is list and _o == _want, f"priority_order([5, 0, 8], 4) is {_o!r}, expected {_want} (layer 1 has no gradient)"
### BEGIN HIDDEN TESTS
from mlsys_kit.feed import comm as _comm

assert partition_chunks(0, 3) == [] and partition_chunks(8, 4) == [4, 4] and partition_chunks(3, 4) == [3]
assert partition_chunks(7, 1) == [1] * 7
for _bad in (0, -4):
    try:
        partition_chunks(10, _bad)
        raise AssertionError(f"partition_chunks(10, {_bad}) must raise ValueError")
    except ValueError:
        pass
_rng = student_rng("priority")
_cases = [(0, 5), (5, 5), (6, 5), (4, 5), (1, 1), (12, 12), (13, 4)]
_cases += [(_rng.randint(0, 10**8), _rng.choice([1, 7, 2**20, 4 * 2**20, 10**6])) for _ in range(10)]
_cases = [c for c in _cases if c[0] // c[1] < 10**4]
same_as_reference(partition_chunks, _comm.partition_chunks, _cases)
_cases = [([], 3), ([0, 0], 2), ([3, 9, 0, 4], 4), ([10, 10], 10)]
for _ in range(8):
    _cases.append(([_rng.choice([0, _rng.randint(1, 50)]) for _ in range(_rng.randint(1, 9))], _rng.randint(1, 12)))
same_as_reference(priority_order, _comm.priority_order, _cases)
### END HIDDEN TESTS

# %% [markdown] id="md-iteration"
# ## 2. The iteration time: FIFO against priority (6 points)
#
# The step as a timeline, from the start of backward (t = 0) to the end of the next forward:
#
# * backward runs layer `L-1` first, each layer right after the one above it; a layer's gradient is
#   ready when its backward ends;
# * the network carries **one message at a time**; a message of `b` bytes handed to the network at
#   time `t` starts at `max(t + latency, link free)` and keeps the link busy for the ring
#   all-reduce's `2 (n-1)/n * b / bandwidth` seconds (`transfer_time(nbytes, network)`);
# * the next forward runs layer 0 first; layer `i` starts when layer `i-1`'s forward has ended
#   (layer 0: when backward has ended) **and** its own gradient is all-reduced (a layer without
#   gradient bytes needs nothing). The iteration time is the end of the last forward.
#
# `fifo_iteration_time(layers, network)`: one message per layer (with bytes), handed over when its
# gradient is ready (in the order they appear: layer `L-1` first).
#
# `priority_iteration_time(layers, network, partition)`: ByteScheduler with one chunk in flight
# (credit = one partition): whenever the link is free, hand over, of the chunks whose gradient is
# ready, the first in `priority_order`; when none is ready, wait for the next gradient. (The
# reference, `iteration_time(layers, network, "bytescheduler", partition=p, credit=c)`, allows up
# to `credit` bytes in flight; with `credit = partition` and full chunks it is this.)
#
# All three return floats and leave their arguments as they were.

# %% kind="solution" id="iteration"
def transfer_time(nbytes: int, network: dict) -> float:
    ### BEGIN SOLUTION
    n = network["workers"]
    return 2 * (n - 1) / n * nbytes / network["bandwidth"]
    ### END SOLUTION


def fifo_iteration_time(layers: list, network: dict) -> float:
    ### BEGIN SOLUTION
    t, ready = 0.0, [0.0] * len(layers)
    for i in reversed(range(len(layers))):
        t += layers[i]["backward"]
        ready[i] = t
    done = list(ready)
    free = 0.0
    for i in range(len(layers) - 1, -1, -1):  # in the order the gradients appear
        if layers[i]["grad_bytes"] > 0:
            start = max(ready[i] + network["latency"], free)
            free = start + transfer_time(layers[i]["grad_bytes"], network)
            done[i] = free
    for i, layer in enumerate(layers):
        t = max(t, done[i]) + layer["forward"]
    return float(t)
    ### END SOLUTION


def priority_iteration_time(layers: list, network: dict, partition: int) -> float:
    ### BEGIN SOLUTION
    t, ready = 0.0, [0.0] * len(layers)
    for i in reversed(range(len(layers))):
        t += layers[i]["backward"]
        ready[i] = t
    done = list(ready)
    pending = priority_order([x["grad_bytes"] for x in layers], partition)
    free = 0.0
    for _ in range(len(pending)):
        handover = max(free, min(ready[p[0]] for p in pending))  # if nothing is ready, wait for the next gradient
        piece = next(p for p in pending if ready[p[0]] <= handover)  # the most urgent ready chunk
        pending.remove(piece)
        free = handover + network["latency"] + transfer_time(piece[2], network)
        done[piece[0]] = free
    for i in range(len(layers)):
        t = max(t, done[i]) + layers[i]["forward"]
    return float(t)
    ### END SOLUTION

# %% kind="test" id="test_iteration" points=6
_net = {"bandwidth": 100.0, "latency": 0.0, "workers": 2}
_tt = transfer_time(100, _net)
assert type(_tt) is float and math.isclose(_tt, 1.0), f"transfer_time(100 bytes, 100 B/s, 2 workers) is {_tt!r}, expected 2 x 1/2 x 1 s = 1.0"
_two = [{"forward": 1.0, "backward": 2.0, "grad_bytes": 100}, {"forward": 1.0, "backward": 2.0, "grad_bytes": 400}]
_case = "two layers (forward 1 s, backward 2 s; 100 and 400 bytes), 100 B/s, 2 workers"
_f = fifo_iteration_time(_two, _net)
assert type(_f) is float and math.isclose(_f, 9.0), \
    f"fifo_iteration_time({_case}) is {_f!r}, expected 9.0: layer 1 on the link 2-6 s, layer 0 6-7 s, forward 7-9 s"
_p = priority_iteration_time(_two, _net, 100)
assert type(_p) is float and math.isclose(_p, 8.0), \
    f"priority_iteration_time({_case}, partition 100) is {_p!r}, expected 8.0: layer 0's chunk overtakes at 4 s (4-5 s)"
### BEGIN HIDDEN TESTS
from mlsys_kit.feed import comm as _comm


def _ref(policy, layers, net, **kw):
    ls = [_comm.Layer(float(x["forward"]), float(x["backward"]), x["grad_bytes"]) for x in layers]
    return _comm.iteration_time(ls, _comm.Network(float(net["bandwidth"]), float(net["latency"]), net["workers"]),
                                policy, **kw).iteration_time


def _ref_prio(layers, net, partition):
    return _ref("bytescheduler", layers, net, partition=partition, credit=partition)


_rng = student_rng("iteration")
same_as_reference(transfer_time, lambda b, n: _comm.Network(float(n["bandwidth"]), 0.0, n["workers"]).transfer_time(b),
                  [(0, _net), (123, {"bandwidth": 7.0, "latency": 0.5, "workers": 3})]
                  + [(_rng.randint(0, 10**9), {"bandwidth": _rng.choice([1e9, 1.25e10, 3.0]), "latency": 0.0,
                                               "workers": _rng.randint(2, 64)}) for _ in range(6)], rel=1e-12)


def _draw_model(rng, unit):
    """A model of 1-7 layers, some without gradient (0 bytes) or without compute (0 s); sizes in
    multiples of ``unit`` (full chunks) unless unit is 1."""
    layers = []
    for _ in range(rng.randint(1, 7)):
        layers.append({"forward": rng.choice([0.0, rng.uniform(0.1, 3.0)]), "backward": rng.choice([0.0, rng.uniform(0.1, 6.0)]),
                       "grad_bytes": rng.choice([0, unit * rng.randint(1, 12)])})
    return layers


_cases_f, _cases_p = [], []
for _k in range(30):
    _n = {"bandwidth": _rng.choice([50.0, 100.0, 400.0]), "latency": _rng.choice([0.0, 0.0, 0.05, 0.3]), "workers": _rng.randint(2, 9)}
    _unit = _rng.choice([10, 25, 100])
    _layers = _draw_model(_rng, _unit)
    _cases_f.append(((_layers, _n), {}))  # (args, kwargs): a network dict alone would read as keywords
    _cases_p.append((_layers, _n, _unit))
same_as_reference(fifo_iteration_time, lambda ls, n: _ref("fifo", ls, n), _cases_f + [((_two, _net), {})], rel=1e-9, abs_tol=1e-12)
same_as_reference(priority_iteration_time, _ref_prio, _cases_p + [(_two, _net, 100), (_two, _net, 50)], rel=1e-9, abs_tol=1e-12)
# the same model on other networks: each answer its own (nothing remembered from an earlier call)
_nets = [{"bandwidth": 100.0, "latency": 0.0, "workers": 2}, {"bandwidth": 50.0, "latency": 0.0, "workers": 2},
         {"bandwidth": 100.0, "latency": 0.4, "workers": 2}, {"bandwidth": 100.0, "latency": 0.0, "workers": 5}]
same_as_reference(fifo_iteration_time, lambda ls, n: _ref("fifo", ls, n), [((_two, _n), {}) for _n in _nets])
same_as_reference(priority_iteration_time, _ref_prio, [(_two, _n, 100) for _n in _nets] + [(_two, _net, _p) for _p in (50, 100)])
# gradients all ready at once (no backward time): the order is the priority order, layer 0 first
_flat = [{"forward": 1.0, "backward": 0.0, "grad_bytes": 200}, {"forward": 1.0, "backward": 0.0, "grad_bytes": 100}]
assert math.isclose(priority_iteration_time(_flat, _net, 100), 4.0)  # layer 0 done at 2, forward 2-3, layer 1 done 3, 3-4
assert math.isclose(fifo_iteration_time(_flat, _net), 5.0)  # layer 1 first (0-1), layer 0 1-3, forward 3-5
# a gradient that becomes ready exactly when the link frees is taken at once; the link waits when idle
_gap = [{"forward": 0.5, "backward": 1.0, "grad_bytes": 100}, {"forward": 0.5, "backward": 1.0, "grad_bytes": 100}]
assert math.isclose(priority_iteration_time(_gap, _net, 100), 4.0)  # layer 1 on the link 1-2 s, layer 0 2-3 s
assert math.isclose(priority_iteration_time(_gap, {"bandwidth": 100.0, "latency": 0.5, "workers": 2}, 50), 5.5)  # 0 preempts 1
# a one-byte gradient is a message too (fifo), a chunk too (priority)
_tiny = [{"forward": 1.0, "backward": 1.0, "grad_bytes": 1}, {"forward": 1.0, "backward": 1.0, "grad_bytes": 0}]
_slow = {"bandwidth": 0.5, "latency": 0.25, "workers": 2}
same_as_reference(fifo_iteration_time, lambda ls, n: _ref("fifo", ls, n), [((_tiny, _slow), {})])
same_as_reference(priority_iteration_time, _ref_prio, [(_tiny, _slow, 1)])
# a partition that does not divide the tensor, against a second implementation written out here
assert math.isclose(priority_iteration_time([{"forward": 1.0, "backward": 1.0, "grad_bytes": 70}] * 2, _net, 40), 4.7)
# the arguments are left as they were, on the visible case too
_copy = [dict(x) for x in _two]
priority_iteration_time(_two, _net, 100)
fifo_iteration_time(_two, _net)
assert _two == _copy and _net == {"bandwidth": 100.0, "latency": 0.0, "workers": 2}
### END HIDDEN TESTS

# %% [markdown] id="md-cache"
# ## 3. The page cache against MinIO (6 points)
#
# A job reads every sample once per epoch in a fresh random order (`epoch_orders`). With the
# dataset larger than memory, what the cache keeps decides how much is read from storage.
#
# `simulate_cache(policy, orders, sizes, capacity_bytes)`: run every access of `orders` (one list
# of sample ids per epoch) through one cache of `capacity_bytes` bytes that starts empty;
# `sizes[i]` is sample i's bytes. On a hit nothing is read. On a miss the sample is read
# (`bytes_read` grows by its size) and then:
#
# * `"lru"` (the OS page cache): it is kept, after evicting the least recently used samples (a
#   hit counts as a use) until it fits; a sample larger than the whole cache is not kept;
# * `"minio"` (CoorDL section 4.1): it is kept if it fits in the room left, else not; nothing is
#   ever evicted.
#
# Return a dict with `hits`, `misses`, `bytes_read` (ints) and `hit_rate` (a float: hits over all
# accesses, 0.0 when there were none). Raise `ValueError` for any other policy. Leave the
# arguments as they were.

# %% kind="solution" id="cache"
def simulate_cache(policy: str, orders: list, sizes: list, capacity_bytes: int) -> dict:
    ### BEGIN SOLUTION
    if policy not in ("lru", "minio"):
        raise ValueError(f"policy must be 'lru' or 'minio': got {policy!r}")
    cached = []  # least recently used first
    used = hits = misses = read = 0
    for order in orders:
        for key in order:
            if key in cached:
                hits += 1
                if policy == "lru":
                    cached.remove(key)
                    cached.append(key)
                continue
            misses += 1
            read += sizes[key]
            if policy == "lru" and sizes[key] <= capacity_bytes:
                while used + sizes[key] > capacity_bytes:
                    used -= sizes[cached.pop(0)]
            if used + sizes[key] <= capacity_bytes:
                cached.append(key)
                used += sizes[key]
    total = hits + misses
    return {"hits": hits, "misses": misses, "bytes_read": read, "hit_rate": hits / total if total else 0.0}
    ### END SOLUTION

# %% kind="test" id="test_cache" points=6
_r = simulate_cache("lru", [[0, 1, 2, 0]], [1, 1, 1], 2)
assert type(_r) is dict and set(_r) == {"hits", "misses", "bytes_read", "hit_rate"}, \
    f"simulate_cache: return a dict with hits, misses, bytes_read and hit_rate, got {_r!r}"
assert _r == {"hits": 0, "misses": 4, "bytes_read": 4, "hit_rate": 0.0}, \
    f"simulate_cache('lru', [[0, 1, 2, 0]], three 1-byte samples, 2 bytes) is {_r}: reading 2 evicts 0, so 0 misses again"
_m = simulate_cache("minio", [[0, 1, 2, 0]], [1, 1, 1], 2)
assert _m == {"hits": 1, "misses": 3, "bytes_read": 3, "hit_rate": 0.25}, \
    f"simulate_cache('minio', [[0, 1, 2, 0]], three 1-byte samples, 2 bytes) is {_m}: MinIO keeps 0 and 1, so 0 hits"
### BEGIN HIDDEN TESTS
from mlsys_kit.feed import cache as _cache


def _ref_cache(policy, orders, sizes, cap):
    r = _cache.simulate_cache(policy, orders, sizes, cap)
    return {k: r[k] for k in ("hits", "misses", "bytes_read", "hit_rate")}


_rng = student_rng("cache")
_cases = []
for _policy in ("lru", "minio"):
    # a sample bigger than the cache, zero capacity, zero-byte samples, empty epochs
    _cases += [(_policy, [[0, 1, 0, 2, 0]], [5, 2, 2], 4), (_policy, [[0, 1, 0]], [1, 1], 0), (_policy, [[0, 1, 0, 1]], [0, 3], 3),
               (_policy, [[]], [1], 1), (_policy, [[], []], [1], 1), (_policy, [[2, 0, 1, 2, 0, 1]], [3, 3, 3], 6),
               (_policy, [[0, 1, 2], [0, 1, 2]], [2, 2, 2], 5), (_policy, [[1, 2, 1, 0, 3, 1]], [4, 1, 3, 2], 6),
               (_policy, [[0, 1, 1, 0]], [2, 4], 4)]  # a sample exactly the cache's size
    for _ in range(10):  # arbitrary access streams, sizes varied, the cache from empty to everything
        _n = _rng.randint(1, 12)
        _sizes = [_rng.randint(0, 9) for _ in range(_n)]
        _orders = [[_rng.randrange(_n) for _ in range(_rng.randint(0, 25))] for _ in range(_rng.randint(1, 3))]
        _cases.append((_policy, _orders, _sizes, _rng.randint(0, sum(_sizes) + 3)))
    for _ in range(3):  # epochs of random permutations, equal sizes
        _n = _rng.randint(20, 60)
        _cases.append((_policy, epoch_orders(_n, 4, _rng.randrange(10**6)), [3] * _n, 3 * _rng.randint(1, _n)))
same_as_reference(simulate_cache, _ref_cache, _cases)
for _bad in ("fifo", "LRU", None):
    try:
        simulate_cache(_bad, [[0]], [1], 1)
        raise AssertionError(f"simulate_cache({_bad!r}, ...) must raise ValueError: the policies are 'lru' and 'minio'")
    except ValueError:
        pass
### END HIDDEN TESTS

# %% [markdown] id="md-design"
# ## 4. Design figures and a question (4 points)
#
# Set `ANSWER_LRU_65` to LRU's hit rate in the epochs **after the first** (hits over their
# accesses) for 1,000 samples of one byte each, a 650-byte cache (65 % of the dataset) and the
# orders `epoch_orders(1000, 6, seed=0)`, computed with your `simulate_cache` (a float; MinIO gets
# exactly 0.65 there). (1 point.)
#
# Set `ANSWER_BEST_PARTITION` to the partition of `PARTITIONS` for which your
# `priority_iteration_time(LAB_MODEL, LAB_NETWORK, partition)` is least (the first one on a tie;
# an int). (1 point.)

# %% kind="solution" id="answers"
### BEGIN SOLUTION
_lru = simulate_cache("lru", epoch_orders(1000, 6, seed=0), [1] * 1000, 650)
ANSWER_LRU_65 = _lru["hits"] / (5 * 1000)
_times = [priority_iteration_time(LAB_MODEL, LAB_NETWORK, p) for p in PARTITIONS]
ANSWER_BEST_PARTITION = PARTITIONS[_times.index(min(_times))]
### END SOLUTION
print(ANSWER_LRU_65, ANSWER_BEST_PARTITION)

# %% kind="test" id="test_answers" points=2
try:
    _a, _p = ANSWER_LRU_65, ANSWER_BEST_PARTITION
except NameError:
    raise AssertionError("ANSWER_LRU_65 and ANSWER_BEST_PARTITION are not set: run the cell above first") from None
assert type(_a) is float and 0.0 <= _a <= 1.0, f"ANSWER_LRU_65 should be a float in [0, 1], got {_a!r}"
assert type(_p) is int and _p in PARTITIONS, f"ANSWER_BEST_PARTITION should be one of PARTITIONS, got {_p!r}"
### BEGIN HIDDEN TESTS
from mlsys_kit.feed import cache as _cache
from mlsys_kit.feed import comm as _comm

_want = _cache.simulate_cache("lru", epoch_orders(1000, 6, seed=0), [1] * 1000, 650)["hits"] / 5000
assert math.isclose(_a, _want, rel_tol=1e-12), (_a, _want)
assert abs(_a - _cache.lru_hit_rate_limit(0.65)) < 0.02 and _a < 0.65 / 2
_net = _comm.Network(LAB_NETWORK["bandwidth"], LAB_NETWORK["latency"], LAB_NETWORK["workers"])
_ls = [_comm.Layer(x["forward"], x["backward"], x["grad_bytes"]) for x in LAB_MODEL]
_t = [_comm.iteration_time(_ls, _net, "bytescheduler", partition=p, credit=p).iteration_time for p in PARTITIONS]
assert _p == PARTITIONS[_t.index(min(_t))] == 16_000_000, (_p, _t)
### END HIDDEN TESTS

# %% [markdown] id="md-question"
# Then answer in the cell below, in a few sentences (2 points, graded by hand): **why is the best
# partition neither the smallest nor the largest here, and what does ByteScheduler's credit (more
# than one chunk in flight) buy that one chunk at a time cannot?** Hint: count what every chunk
# pays once, and ask what the link does while a chunk is handed over.

# %% [markdown] kind="answer" id="q_partition_why" points=2
# Every chunk pays the per-message start-up (the latency, 0.5 ms here) once, so tiny partitions
# (250 KB: 448 chunks, 224 ms of start-ups) spend most of the time starting messages: the
# communication stretches far past the backward pass. Huge partitions (64 MB) cannot be
# preempted in time: the last layer's 64 MB gradient, ready first, holds the link for 45 ms in
# one message while layer 0's gradient, the one the next forward needs first, waits behind it, so
# the forward starts late. The best size (16 MB here) is large enough that the start-up is a
# small share of a chunk's transfer and small enough that layer 0 waits at most one short chunk.
# Credit: with one chunk in flight the link idles during every hand-over (the start-up is paid
# between chunks, not overlapped); letting a few chunks be in flight hides each start-up behind
# the previous chunk's transfer and keeps the link busy, while a credit that is still small keeps
# the preemption delay (the bytes already committed ahead of an urgent chunk) short. Too much
# credit brings FIFO back.

# %% [markdown] kind="rubric" id="q_partition_why_rubric"
# Rubric (2 points):
#
# * 1 point: the partition trade-off with both sides: a per-chunk cost (latency/start-up, paid
#   once per chunk) makes small chunks slow; large chunks cannot be preempted, so the gradient the
#   forward needs first waits behind a big one (head-of-line blocking).
# * 1 point: credit keeps the link busy by overlapping the start-up of the next chunks with the
#   transfer of the current one (pipelining), at the price of a longer preemption delay when too
#   large (FIFO in the limit). Half a point if only "more throughput" with no mechanism.
# * Typical wrong answer: "smaller chunks are always better because they preempt sooner" (ignores
#   the start-up per chunk), or "credit limits memory" with no link to the schedule.
