# lab11-offloading: the source of labs/source/lab11-offloading/lab11-offloading.ipynb (jupytext percent format).
# Build the notebook with `mlsys-grade build lab11-offloading`; docs/labs.md says how a lab is written.
# mlsys_grade: {"reference": ["mlsys_kit.offload"]}

# %% [markdown] id="intro"
# # Lab 11: inference beyond device memory (FlexGen's offloading)
#
# OPT-175B holds 350 GB of fp16 weights; a T4 holds 16 GB. FlexGen (Sheng et al., ICML'23) runs
# it anyway, for throughput-oriented jobs, by keeping each kind of tensor (weights, activations,
# KV cache) split across three tiers (device, host DRAM, disk) and streaming what each layer needs
# onto the device. Whether that is fast depends on two choices: **where** each tensor lives (nine
# percentages) and **in which order** the work runs (row-by-row against FlexGen's zig-zag block
# schedule). This lab builds the accounting behind both choices:
#
# 1. splitting a tensor over the tiers, in whole elements;
# 2. the bytes one step (one layer of one token step for a block of batches) moves on each link;
# 3. the zig-zag block schedule as an explicit order of steps, with the loads and stores of each;
# 4. the capacity constraints of FlexGen's policy search, a linear program over the percentages;
# 5. a design question: which tensor to offload first, and why.
#
# Reading: FlexGen sections 4.1 (the zig-zag block schedule, figure 3), 4.2 (the cost model and
# the policy search as a linear program) and appendix A. The reference is `mlsys-kit offload plan`
# (`mlsys_kit.offload`); the functions you write carry its names.
#
# Fill in every cell that says `YOUR CODE HERE` (delete the `raise NotImplementedError()`), then run
# the test cell below it. The visible tests are a start; hidden tests check many more cases.
# Total: 19 points (16 autograded, 3 graded by hand).

# %% kind="locked" id="setup"
import math

KINDS = ("weights", "activations", "kv_cache")
TIERS = ("device", "host", "disk")
LINKS = ("host_to_device", "disk_to_host", "device_to_host", "host_to_disk")

# Models as plain dicts (GPT-2 / OPT layout: biases, LayerNorm, an MLP of 4 x hidden).
OPT_30B = {"layers": 48, "hidden": 7168, "heads": 56, "vocab": 50272, "dtype_bytes": 2}
OPT_175B = {"layers": 96, "hidden": 12288, "heads": 96, "vocab": 50272, "dtype_bytes": 2}
TINY = {"layers": 4, "hidden": 128, "heads": 4, "vocab": 512, "dtype_bytes": 4}


def layer_elements(model):
    """Elements of one split unit of each kind: one layer's weights (Q, K, V, output and the two
    MLP matrices with their biases, two LayerNorms), one token's K and V in one layer, one
    token's hidden state."""
    h = model["hidden"]
    return {"weights": 12 * h * h + 13 * h, "kv_cache": 2 * h, "activations": h}


def compute_buffer(model, batch_size, prompt_len):
    """Device bytes one batch's prefill needs while a layer runs, wherever the tensors live: the
    MLP's hidden activations (s x 4h per sequence) and the attention scores (heads x s x s)."""
    h, s = model["hidden"], prompt_len
    return batch_size * s * (4 * h + model["heads"] * s) * model["dtype_bytes"]


def row_by_row(layers, tokens, batches):
    """Row-by-row order (figure 3a): each batch alone through its whole generation. Every step
    loads its layer's weights. A step is (token, layer, batch, loads, stores)."""
    steps = []
    for j in range(batches):
        for t in range(tokens):
            for l in range(layers):
                loads = ("weights",) + (("kv_cache",) if t > 0 else ()) + (("activations",) if l > 0 else ())
                stores = ("kv_cache",) + (("activations",) if l < layers - 1 else ())
                steps.append((t, l, j, loads, stores))
    return steps

# %% [markdown] id="md-split"
# ## 1. Splitting a tensor over the tiers (2 points)
#
# A placement gives each kind of tensor three percentages, (device, host, disk), that sum to 100.
# Tensors are split in whole elements: `split(n, percents)` returns `(device, host, disk)` element
# counts (a tuple of three `int`s): the device and the host get the **floor** of their share
# (`n * p / 100`), the disk gets the rest, so the three always add up to `n`. Compute each floor
# with a tolerance for floating point, `math.floor(n * p / 100 + 1e-9)`: in floating point
# 375 x 18.4 / 100 is 68.99999999999999, and 18.4 % of 375 elements is 69 of them. Leave
# `percents` as it was.

# %% kind="solution" id="split"
def split(n: int, percents: tuple) -> tuple:
    ### BEGIN SOLUTION
    dev = math.floor(n * percents[0] / 100 + 1e-9)
    host = math.floor(n * percents[1] / 100 + 1e-9)
    return (dev, host, n - dev - host)
    ### END SOLUTION

# %% kind="test" id="test_split" points=2
_p = split(10, (33.3, 33.3, 33.4))
assert type(_p) is tuple and len(_p) == 3 and all(type(x) is int for x in _p), \
    f"split(10, (33.3, 33.3, 33.4)): return a tuple of three ints, got {_p!r}"
assert _p == (3, 3, 4), f"split(10, (33.3, 33.3, 33.4)) is {_p}, expected (3, 3, 4): floors on device and host, the rest on disk"
assert split(7, (0, 0, 100)) == (0, 0, 7) and split(7, (100, 0, 0)) == (7, 0, 0)
### BEGIN HIDDEN TESTS
from mlsys_kit.offload.config import split as _ref_split

_rng = student_rng("split")
_cases = [(0, (50, 50, 0)), (1, (50, 50, 0)), (3, (0, 100, 0)), (100, (29, 71, 0)), (10**9 + 7, (12.5, 62.5, 25.0)),
          (375, (18.4, 36.8, 44.8)), (375, (44.8, 32.8, 22.4)),  # 68.99999999999999 elements is 69
          (49984, (86.023047375, 11.930857875, 2.046094750)), (7, (100.0, 0.0, 0.0)), (11, (0.0, 0.0, 100.0))]
for _ in range(30):
    _a = _rng.choice([0, 100, _rng.randint(0, 100), _rng.uniform(0, 100)])
    _b = _rng.choice([0, 100 - _a, _rng.uniform(0, 100 - _a)])
    _cases.append((_rng.choice([_rng.randint(0, 50), _rng.randint(0, 10**10)]), (_a, _b, 100 - _a - _b)))
same_as_reference(split, _ref_split, _cases)
### END HIDDEN TESTS

# %% [markdown] id="md-traffic"
# ## 2. The bytes a step moves (5 points)
#
# A generation is token step 0 (the prefill of `prompt_len` tokens) and then decode steps 1, 2,
# ... of one token each; every token step runs every layer. A **step** is one layer of one token
# step, run for `batches` batches of `batch_size` sequences that share one load of the layer's
# weights (the zig-zag block; row-by-row is `batches=1`). The device computes; what it needs and
# does not hold comes up the links, what it produces goes down:
#
# * **loads**: the host and disk parts of the layer's weights, **once** per step; for a decode
#   step (token `t >= 1`), the host and disk parts of each sequence's cached K and V so far
#   (`prompt_len + t - 1` entries); for every layer but the first, the host and disk parts of
#   each sequence's input activations (one hidden state per token the step processes:
#   `prompt_len` at the prefill, 1 when decoding);
# * **stores**: the host and disk parts of the K and V entries the step appends (one per token it
#   processes) and, for every layer but the last, of its output activations (as many).
#
# Every tensor is split with your `split`, per unit: one layer's weights, one token's K and V,
# one token's hidden state (`layer_elements(model)` gives the element counts); each element is
# `dtype_bytes`. A disk part travels through the host: it crosses **both** links of its direction
# (disk -> host -> device up, device -> host -> disk down).
#
# `step_traffic(model, placement, batch_size, prompt_len, token, layer, batches)`: `placement` maps
# each kind to its (device, host, disk) percentages. Return a dict with the four links of `LINKS`
# (`host_to_device`, `disk_to_host`, `device_to_host`, `host_to_disk`), each a number of bytes (an
# `int`). Leave the arguments as they were.

# %% kind="solution" id="traffic"
def step_traffic(model: dict, placement: dict, batch_size: int, prompt_len: int, token: int, layer: int,
                 batches: int) -> dict:
    ### BEGIN SOLUTION
    n = layer_elements(model)
    _, wh, wd = split(n["weights"], placement["weights"])
    _, ah, ad = split(n["activations"], placement["activations"])
    _, kh, kd = split(n["kv_cache"], placement["kv_cache"])
    seqs = batches * batch_size
    new = prompt_len if token == 0 else 1
    cached = 0 if token == 0 else prompt_len + token - 1
    act_in = seqs * new if layer > 0 else 0
    act_out = seqs * new if layer < model["layers"] - 1 else 0
    b = model["dtype_bytes"]
    return {
        "host_to_device": b * ((wh + wd) + seqs * cached * (kh + kd) + act_in * (ah + ad)),
        "disk_to_host": b * (wd + seqs * cached * kd + act_in * ad),
        "device_to_host": b * (seqs * new * (kh + kd) + act_out * (ah + ad)),
        "host_to_disk": b * (seqs * new * kd + act_out * ad),
    }
    ### END SOLUTION

# %% kind="test" id="test_traffic" points=5
_pl = {"weights": (0, 100, 0), "activations": (100, 0, 0), "kv_cache": (100, 0, 0)}
_case = "step_traffic(TINY, weights on the host, 1 sequence, prompt 8, token 1, layer 0, 1 batch)"
_t = step_traffic(TINY, _pl, 1, 8, 1, 0, 1)
assert type(_t) is dict and set(_t) == set(LINKS), f"{_case}: return a dict with the keys {LINKS}, got {_t!r}"
assert all(type(v) is int for v in _t.values()), f"{_case}: every value is an int (bytes), got {_t!r}"
_w = (12 * 128 * 128 + 13 * 128) * 4
assert _t == {"host_to_device": _w, "disk_to_host": 0, "device_to_host": 0, "host_to_disk": 0}, \
    f"{_case} is {_t}, expected only the layer's weights ({_w} bytes) from the host"
_pl = {"weights": (100, 0, 0), "activations": (100, 0, 0), "kv_cache": (0, 0, 100)}
_case = "step_traffic(TINY, KV cache on disk, 2 sequences, prompt 8, token 3, layer 1, 1 batch)"
_t = step_traffic(TINY, _pl, 2, 8, 3, 1, 1)
_kv = 2 * 128 * 4
assert _t == {"host_to_device": 2 * 10 * _kv, "disk_to_host": 2 * 10 * _kv, "device_to_host": 2 * _kv,
              "host_to_disk": 2 * _kv}, \
    f"{_case} is {_t}, expected 2 x 10 cached entries of {_kv} bytes up both links, 2 new entries down both"
### BEGIN HIDDEN TESTS
from mlsys_kit.models.costs import TransformerConfig as _TC
from mlsys_kit.offload import cost as _cost
from mlsys_kit.offload.config import Placement as _Placement, Policy as _Policy, Workload as _Workload


def _cfg(m):
    return _TC(name="lab", layers=m["layers"], hidden=m["hidden"], heads=m["heads"], vocab=m["vocab"],
               dtype_bytes=m["dtype_bytes"])


def _ref_traffic(m, pl, b, s, token, layer, k):
    policy = _Policy(b, placement=_Placement(pl["weights"], pl["activations"], pl["kv_cache"]))
    got = _cost.step_traffic(_cfg(m), policy, _Workload(s, token + 1), token, layer, k)
    return {link: int(round(v)) for link, v in got.items()}


def _triple(rng):
    a = rng.choice([0, 100, rng.randint(0, 100), round(rng.uniform(0, 100), 3)])
    b = rng.choice([0, 100 - a, round(rng.uniform(0, 100 - a), 3)])
    return (a, b, 100 - a - b)


_rng = student_rng("traffic")
_models = [TINY, OPT_30B, {"layers": 1, "hidden": 64, "heads": 2, "vocab": 100, "dtype_bytes": 2},
           {"layers": 2, "hidden": 96, "heads": 3, "vocab": 100, "dtype_bytes": 1}]
_split3 = {"weights": (10, 30, 60), "activations": (20, 30, 50), "kv_cache": (0, 40, 60)}
_cases = []
for _m in _models:  # every layer position (first, middle, last, the only one), prefill and decode, fixed
    for _layer in sorted({0, 1, _m["layers"] - 1} & set(range(_m["layers"]))):
        for _token in (0, 1, 5):
            _cases.append((_m, _split3, 3, 16, _token, _layer, 2))
for _ in range(40):
    _m = _rng.choice(_models + [{"layers": _rng.randint(1, 12), "hidden": 8 * _rng.randint(1, 64), "heads": 8,
                                 "vocab": 1000, "dtype_bytes": _rng.choice([1, 2, 4])}])
    _pl = {k: _triple(_rng) for k in KINDS}
    _cases.append((_m, _pl, _rng.randint(1, 64), _rng.randint(1, 600), _rng.choice([0, 1, _rng.randint(1, 40)]),
                   _rng.randrange(_m["layers"]), _rng.randint(1, 12)))
same_as_reference(step_traffic, _ref_traffic, _cases)
### END HIDDEN TESTS

# %% [markdown] id="md-zigzag"
# ## 3. The zig-zag block schedule (4 points)
#
# `row_by_row(layers, tokens, batches)` (in the setup cell) runs each batch alone through its
# whole generation, so every step loads its layer's weights: `tokens x batches` loads per layer.
# FlexGen's zig-zag order runs, for each token step, for each layer, **every batch of the block**
# before the next layer, so a layer's weights are loaded by the block's first batch only and the
# others reuse them: `tokens` loads per layer.
#
# `zigzag(layers, tokens, batches)`: return the zig-zag order as a list of steps, each a tuple
# `(token, layer, batch, loads, stores)` like `row_by_row`'s: `loads` the kinds the step brings
# onto the device first, in the order `"weights"` (the block's first batch only), `"kv_cache"`
# (decode steps), `"activations"` (every layer but the first), `stores` what it writes after:
# `"kv_cache"` always, then `"activations"` (every layer but the last). Both are tuples.

# %% kind="solution" id="zigzag"
def zigzag(layers: int, tokens: int, batches: int) -> list:
    ### BEGIN SOLUTION
    steps = []
    for t in range(tokens):
        for l in range(layers):
            for j in range(batches):
                loads = (("weights",) if j == 0 else ()) + (("kv_cache",) if t > 0 else ()) \
                    + (("activations",) if l > 0 else ())
                stores = ("kv_cache",) + (("activations",) if l < layers - 1 else ())
                steps.append((t, l, j, loads, stores))
    return steps
    ### END SOLUTION

# %% kind="test" id="test_zigzag" points=4
_z = zigzag(2, 2, 2)
assert type(_z) is list and len(_z) == 8 and all(type(s) is tuple and len(s) == 5 for s in _z), \
    f"zigzag(2, 2, 2): return a list of 8 (token, layer, batch, loads, stores) tuples, got {_z!r}"
_want = [(0, 0, 0), (0, 0, 1), (0, 1, 0), (0, 1, 1), (1, 0, 0), (1, 0, 1), (1, 1, 0), (1, 1, 1)]
assert [s[:3] for s in _z] == _want, f"zigzag(2, 2, 2) runs {[s[:3] for s in _z]}, expected {_want}"
assert _z[0][3:] == (("weights",), ("kv_cache", "activations")) and _z[1][3] == (), \
    f"zigzag(2, 2, 2): the first batch loads the weights, the second reuses them; got {_z[0]} and {_z[1]}"
### BEGIN HIDDEN TESTS
from mlsys_kit.offload import schedule as _schedule


def _ref_zigzag(layers, tokens, batches):
    return [(s.token, s.layer, s.batch, s.loads, s.stores) for s in _schedule.zigzag(layers, tokens, batches)]


_rng = student_rng("zigzag")
_cases = [(1, 1, 1), (1, 3, 1), (3, 1, 1), (1, 1, 4), (2, 3, 4), (4, 2, 3)]
_cases += [(_rng.randint(1, 6), _rng.randint(1, 6), _rng.randint(1, 6)) for _ in range(8)]
same_as_reference(zigzag, _ref_zigzag, _cases)
for _case in _cases:  # it is a valid order: every step once, each after its dependencies
    _schedule.check_order([_schedule.Step(*s) for s in zigzag(*_case)], *_case)
### END HIDDEN TESTS

# %% [markdown] id="md-lp"
# ## 4. The capacity constraints of the policy search (5 points)
#
# FlexGen chooses the nine fractions x = (wg, wc, wd, hg, hc, hd, cg, cc, cd) (weights,
# activations, KV cache on device / host / disk, each in [0, 1], each kind's three summing to 1)
# with a linear program: minimise the generation's time (its rows come from `step_traffic`, linear
# in x) subject to **each tier's peak bytes fitting its capacity**. You write those three rows.
#
# With W, H, C the elements of one layer's weights, one token's hidden state and one token's K
# and V (`layer_elements`), e = `dtype_bytes`, L layers, s = `prompt_len`, T = `prompt_len +
# gen_len - 1` (the cached entries at the end), b = `batch_size`, and B the sequences live at
# once (`batch_size * num_batches` for `"zigzag"`, `batch_size` for `"row"`), tier i holds
#
# * its share of every layer's weights, `L W e x[w, i]`;
# * its share of the live sequences' hidden states between two layers at the prefill, `B s H e x[h, i]`;
# * its share of their KV caches at full length, `B T L C e x[c, i]`;
#
# and, as working buffers, the **device** also holds two layers' offloaded weights
# (`2 W e (wc + wd)`: the running one and the prefetched one), one batch's offloaded input and
# output activations (`2 b s H e (hc + hd)`) and one batch's offloaded KV of one layer
# (`b T C e (cc + cd)`); the **host** stages two layers' disk weights (`2 W e wd`) and one batch's
# disk KV of one layer (`b T C e cd`). The device also needs `compute_buffer(model, batch_size,
# prompt_len)` bytes whatever x is: take it off the device's capacity.
#
# `capacity_constraints(model, capacities, batch_size, num_batches, prompt_len, gen_len, schedule)`:
# `capacities` maps each tier to its bytes. Return `(A, b)`: `A` a list of three rows (device,
# host, disk), each a list of nine floats (the coefficients of x in the order above), `b` a list
# of three floats, so that `A x <= b` says every tier fits. Leave the arguments as they were.

# %% kind="solution" id="lp"
def capacity_constraints(model: dict, capacities: dict, batch_size: int, num_batches: int, prompt_len: int,
                         gen_len: int, schedule: str = "zigzag") -> tuple:
    ### BEGIN SOLUTION
    n = layer_elements(model)
    e, L, s = model["dtype_bytes"], model["layers"], prompt_len
    T = prompt_len + gen_len - 1
    live = batch_size * num_batches if schedule == "zigzag" else batch_size
    W, H, C = n["weights"] * e, n["activations"] * e, n["kv_cache"] * e
    A = [[0.0] * 9 for _ in range(3)]
    for i in range(3):
        A[i][0 + i] = float(L * W)
        A[i][3 + i] = float(live * s * H)
        A[i][6 + i] = float(live * T * L * C)
    for j in (1, 2):
        A[0][j] += 2 * W
        A[0][3 + j] += 2 * batch_size * s * H
        A[0][6 + j] += batch_size * T * C
    A[1][2] += 2 * W
    A[1][8] += batch_size * T * C
    b = [float(capacities[t]) for t in TIERS]
    b[0] -= compute_buffer(model, batch_size, prompt_len)
    return (A, b)
    ### END SOLUTION

# %% kind="test" id="test_lp" points=5
_caps = {"device": 16e9, "host": 208e9, "disk": 1500e9}
_case = "capacity_constraints(OPT_30B, a T4's tiers, 8 sequences, 4 batches, prompt 512, 32 tokens)"
_r = capacity_constraints(OPT_30B, _caps, 8, 4, 512, 32, "zigzag")
assert type(_r) is tuple and len(_r) == 2, f"{_case}: return a pair (A, b), got {type(_r).__name__}"
_A, _b = _r
assert type(_A) is list and len(_A) == 3 and all(type(r) is list and len(r) == 9 for r in _A), \
    f"{_case}: A is a list of 3 rows of 9 numbers"
assert all(type(v) is float for r in _A for v in r) and type(_b) is list and all(type(v) is float for v in _b), \
    f"{_case}: every coefficient and bound is a float"
_W = (12 * 7168 ** 2 + 13 * 7168) * 2
assert _A[2][0] == 0.0 and math.isclose(_A[2][2], 48 * _W) and math.isclose(_A[1][1], 48 * _W), \
    f"{_case}: the disk row's wg is 0 and its wd L W e = {48 * _W}, the host row's wc L W e too; got {_A[2][:3]}, {_A[1][:3]}"
assert math.isclose(_A[1][2], 2 * _W), f"{_case}: the host row's wd is the two staged layers, 2 W e = {2 * _W}; got {_A[1][2]}"
assert math.isclose(_b[1], 208e9) and math.isclose(_b[0], 16e9 - 8 * 512 * (4 * 7168 + 56 * 512) * 2), \
    f"{_case}: b is each tier's capacity, the device's less the compute buffer; got {_b}"
### BEGIN HIDDEN TESTS
import numpy as _np

from mlsys_kit.offload import search as _search
from mlsys_kit.offload.config import Hardware as _Hardware, Tier as _Tier


def _hw(caps):
    return _Hardware("lab", _Tier("device", caps["device"], 300e9, 300e9), _Tier("host", caps["host"], 12e9, 12e9),
                     _Tier("disk", caps["disk"], 2e9, 1e9), flops=50e12)


def _ref_rows(m, caps, b, k, s, n, schedule="zigzag"):
    A, cap = _search.capacity_constraints(_cfg(m), _hw(caps), b, k, _Workload(s, n), schedule)
    return ([[float(v) for v in row] for row in A], [float(v) for v in cap])


_rng = student_rng("lp")
_cases = [(OPT_30B, _caps, 8, 4, 512, 32, "zigzag"), (OPT_30B, _caps, 8, 4, 512, 32, "row"),
          (OPT_175B, _caps, 32, 8, 512, 32), (TINY, {"device": 1e6, "host": 0.0, "disk": 5e7}, 1, 1, 1, 1, "row")]
for _ in range(12):
    _m = _rng.choice([TINY, OPT_30B, OPT_175B, {"layers": _rng.randint(1, 12), "hidden": 8 * _rng.randint(1, 64),
                                                 "heads": 8, "vocab": 1000, "dtype_bytes": _rng.choice([1, 2, 4])}])
    _c = {"device": _rng.uniform(1e6, 4e10), "host": _rng.uniform(0, 5e11), "disk": _rng.uniform(0, 2e12)}
    _cases.append((_m, _c, _rng.randint(1, 64), _rng.randint(1, 16), _rng.randint(1, 1024), _rng.randint(1, 64),
                   _rng.choice(["zigzag", "row"])))
same_as_reference(capacity_constraints, _ref_rows, _cases, rel=1e-9)
# checked against the reference search: the LP with your rows finds the reference's best throughput
_small = {"layers": 3, "hidden": 64, "heads": 4, "vocab": 100, "dtype_bytes": 2}
for _caps2, _b2, _k2, _sch in (({"device": 3e5, "host": 2.5e5, "disk": 1e7}, 2, 3, "zigzag"),
                               ({"device": 3e5, "host": 2.5e5, "disk": 1e7}, 2, 2, "row"),
                               ({"device": _rng.uniform(2.6e5, 6e5), "host": _rng.uniform(1e5, 6e5), "disk": 1e7},
                                _rng.randint(1, 4), _rng.randint(1, 4), _rng.choice(["zigzag", "row"]))):
    _want = _search.solve(_cfg(_small), _hw(_caps2), _b2, _k2, _Workload(8, 3), _sch)
    _got = _search.solve(_cfg(_small), _hw(_caps2), _b2, _k2, _Workload(8, 3), _sch,
                         rows=capacity_constraints(_small, _caps2, _b2, _k2, 8, 3, _sch))
    assert (_got is None) == (_want is None), f"with your rows the LP is {'in' if _got is None else ''}feasible"
    if _want is not None:
        assert math.isclose(_got["tokens_per_s"], _want["tokens_per_s"], rel_tol=1e-6), \
            f"with your rows the best plan runs {_got['tokens_per_s']} tokens/s, expected {_want['tokens_per_s']}"
### END HIDDEN TESTS

# %% [markdown] id="md-design"
# ## 5. Design question: which tensor to offload first? (3 points, graded by hand)
#
# OPT-30B on one 16 GB T4 (208 GB host, an SSD), prompts of 512 tokens and 32 generated tokens,
# FlexGen's zig-zag schedule with a block of 8 batches of 32 sequences. Use your `step_traffic` and
# `capacity_constraints` (the cell below prints what they say) and answer in a few sentences:
# **when the device runs out, which kind of tensor (weights, activations, KV cache) should leave
# it first, and why?** Compare, for each kind, the device bytes it frees with the bytes it then
# moves per generated token, and say how the answer changes with the block size.

# %% kind="locked" id="design_numbers" judge=false
def show_offload_costs():
    """For each kind moved whole from the device to the host: the device bytes it frees (your
    capacity rows) and the bytes it then moves up per decode step (your step_traffic)."""
    on_device = {"weights": (100, 0, 0), "activations": (100, 0, 0), "kv_cache": (100, 0, 0)}
    caps = {"device": 16e9, "host": 208e9, "disk": 1500e9}
    A, _ = capacity_constraints(OPT_30B, caps, 32, 8, 512, 32)
    for i, kind in enumerate(KINDS):
        placement = dict(on_device, **{kind: (0, 100, 0)})
        moved = sum(step_traffic(OPT_30B, placement, 32, 512, 1, layer, 8)["host_to_device"]
                    for layer in range(OPT_30B["layers"]))
        freed = A[0][3 * i] - A[0][3 * i + 1]
        print(f"{kind:12s} frees {freed / 1e9:8.2f} GB of device, moves {moved / 1e9:8.3f} GB up per decode "
              f"step ({moved / (32 * 8) / 1e6:8.2f} MB per generated token)")


try:
    show_offload_costs()
except NotImplementedError:
    print("write step_traffic and capacity_constraints first")

# %% [markdown] kind="answer" id="q_offload_first" points=3
# The weights (once the activations, which barely matter either way, are settled). Moving every
# weight to the host frees about 57 GB of device memory, the only kind that frees enough for
# OPT-30B to run at all, and with the zig-zag schedule it costs one load of each layer per token
# step for the whole block: 59 GB per decode step shared by 256 sequences, about 0.23 GB per
# generated token, a share that falls as the block grows (FlexGen's point: a larger block
# amortises each weight load over more tokens; row-by-row pays it per batch). The KV cache is the
# worst to move: every decode step reads all of it back, for every sequence, so it moves about as
# many bytes per step as it frees (180 GB per step for 191 GB freed, 0.7 GB per token), and both
# grow with the block, so nothing is amortised; FlexGen keeps it on the host and computes
# attention there instead of moving it. The activations cost almost nothing while decoding (one
# hidden state per sequence and layer, 0.17 GB per step) but free only 1.4 GB, and the prefill
# moves them whole (every prompt token's hidden state between every two layers). Order: weights
# first, the activations if a little more room is needed, the KV cache last (or CPU attention).

# %% [markdown] kind="rubric" id="q_offload_first_rubric"
# Rubric (3 points):
#
# * 1 point: names the weights as the first to offload (also accept: the activations first for a
#   little room, then the weights, when the answer says the activations free too little alone).
# * 1 point: why: a layer's weights are loaded once per token step for the whole block, so their
#   traffic per generated token is divided by the block size, while the KV cache is read whole by
#   every decode step of every sequence (traffic about equal to what it frees, not amortised).
# * 1 point: uses the numbers (GB freed against GB moved per step or per token) or says how the
#   block size changes the answer (a larger block favours offloading the weights; row-by-row or a
#   block of one batch makes each weight load expensive; FlexGen's CPU attention avoids moving
#   the KV cache).
# * Typical wrong answers: "the largest tensor first" with no traffic argument; "the KV cache,
#   because it is only appended to" (every decode step reads all of it).
