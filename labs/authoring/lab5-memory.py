# lab5-memory: the source of labs/source/lab5-memory/lab5-memory.ipynb (jupytext percent format).
# Build the notebook with `mlsys-grade build lab5-memory`; docs/labs.md says how a lab is written.
# mlsys_grade: {"reference": ["mlsys_kit.memory.lifetimes", "mlsys_kit.memory.optimal", "mlsys_kit.memory.policies"]}

# %% [markdown] id="intro"
# # Lab 5: training memory, tensor by tensor
#
# A training step's activations are born in the forward pass and die in the backward pass, in
# reverse order: memory rises, peaks, falls. You will account for every tensor of a step and
# then buy memory back with time: recomputation (Chen et al., *Training Deep Nets with
# Sublinear Memory Cost*, 2016; Checkmate, MLSys'20) and swapping to host memory (vDNN,
# MICRO'16).
#
# A **chain** is a plain dict for n >= 1 layers numbered 1..n (bytes are `int`s >= 0, seconds
# `float`s > 0):
#
# * `out[i]` (i = 0..n): bytes of layer i's output $x_i$ (`out[0]` is the input $x_0$);
# * `extra[i-1]`: bytes layer i saves for its backward pass **besides its input** $x_{i-1}$;
# * `fwd[i-1]`, `bwd[i-1]`: seconds of its forward and backward pass.
#
# A **plan** is a string with one letter per layer: `K` keep (save in the forward pass), `C`
# checkpoint (run without saving, keep only the input $x_{i-1}$, recompute in the backward pass),
# `R` recompute (continues the segment of the `C` before it). `"CRRCRR"` is two segments of three.
#
# Fill in every cell that says `YOUR CODE HERE` (delete the `raise NotImplementedError()`), then
# run the test cell below it. Hidden tests check many random chains and plans. Total: 21 points:
# 19 autograded, and 2 for the closing "why" answer, which your instructor grades by hand.

# %% kind="locked" id="setup"
import math


def uniform(n, out=10, extra=5, fwd=1.0, bwd=2.0):
    """n identical layers; the input is as big as an output."""
    return {"out": [out] * (n + 1), "extra": [extra] * n, "fwd": [fwd] * n, "bwd": [bwd] * n}


def segments(plan):
    """The plan's units left to right as (l, r), 1-based inclusive: a K layer alone, or C R..R."""
    units = []
    for i, c in enumerate(plan, 1):
        if c == "R":
            units[-1] = (units[-1][0], i)
        else:
            units.append((i, i))
    return units


SMALL = {"out": [5, 4, 8, 2, 6], "extra": [10, 3, 12, 1], "fwd": [1.0, 2.0, 1.0, 3.0], "bwd": [2.0, 4.0, 2.0, 6.0]}

# %% [markdown] id="md-peak"
# ## 1. The peak, tensor by tensor (5 points)
#
# The rules (every tensor is allocated when an op starts and freed when it ends; the memory
# *during* an op is what is live before it plus what it allocates):
#
# * **Forward**, layers 1..n: `F_i` allocates $x_i$ (`out[i]`) and, for a `K` layer, its extra
#   tensors (`extra[i-1]`). After `F_i`, $x_{i-1}$ is freed if layer i is `R`; otherwise it stays
#   (part of a `K` layer's saved tensors, or a `C` layer's checkpoint).
# * At the end of the forward pass $x_n$ is freed and its gradient $g_n$ (`out[n]` bytes)
#   allocated.
# * **Backward**, units right to left (see `segments`): a `K` layer runs `B_i`; a segment
#   `C R .. R` (layers l..r) first recomputes `R_l, ..., R_r` (each allocates layer i's extra
#   tensors and $x_i$; $x_r$ is freed right after `R_r`, nobody needs it), then runs
#   `B_r, ..., B_l`.
# * `B_i` allocates $g_{i-1}$ (`out[i-1]`) and, when it ends, frees $g_i$, layer i's extra
#   tensors and $x_{i-1}$ (and $g_0$ after `B_1`).
#
# `peak_memory(chain, plan)`: the largest number of bytes live during any op (an `int`). Plans
# here have only `K`, `C`, `R`. With `uniform(3)` (10-byte outputs, 5 extra): `"KKK"` peaks at
# 65 bytes, during `B_3`: 3 x 15 saved + $g_3$ + $g_2$.

# %% kind="solution" id="peak"
def peak_memory(chain: dict, plan: str) -> int:
    ### BEGIN SOLUTION
    out, extra = chain["out"], chain["extra"]
    n = len(extra)
    live = {"x0": out[0]}
    peaks = []

    def run(allocs, frees):
        for name, nbytes in allocs:
            live[name] = nbytes
        peaks.append(sum(live.values()))
        for name in frees:
            del live[name]

    for i in range(1, n + 1):
        allocs = [(f"x{i}", out[i])] + ([(f"e{i}", extra[i - 1])] if plan[i - 1] == "K" else [])
        run(allocs, [f"x{i - 1}"] if plan[i - 1] == "R" else [])
    del live[f"x{n}"]
    live[f"g{n}"] = out[n]
    for l, r in reversed(segments(plan)):
        if plan[l - 1] == "C":
            for i in range(l, r + 1):
                run([(f"e{i}", extra[i - 1]), (f"x{i}", out[i])], [f"x{i}"] if i == r else [])
        for i in range(r, l - 1, -1):
            # (g0, freed after B_1, the last op, changes no peak)
            run([(f"g{i - 1}", out[i - 1])], [f"g{i}", f"e{i}", f"x{i - 1}"])
    return int(max(peaks))
    ### END SOLUTION

# %% kind="test" id="test_peak" points=5
import math

_p = peak_memory(uniform(3), "KKK")
assert type(_p) is int, "return an int"
assert _p == 65, _p
assert peak_memory(uniform(3), "CCC") == 55
assert peak_memory(SMALL, "CRCR") == 40
### BEGIN HIDDEN TESTS
import itertools as _it
import random as _random
from mlsys_kit.memory.chain import from_lists as _from_lists
from mlsys_kit.memory.optimal import plan_peak as _plan_peak


def _ref_chain(ch):
    return _from_lists(ch["out"][1:], ch["extra"], ch["fwd"], ch["bwd"], ch["out"][0])


def _plans(n):
    for p in _it.product("KCR", repeat=n):
        if p[0] != "R" and all(c != "R" or p[i - 1] in "CR" for i, c in enumerate(p) if i):
            yield "".join(p)


_rng = _random.Random(5)
for _trial in range(40):
    _n = _rng.randint(1, 5)
    _ch = {"out": [_rng.randint(1, 30) for _ in range(_n + 1)], "extra": [_rng.randint(0, 40) for _ in range(_n)],
           "fwd": [1.0] * _n, "bwd": [2.0] * _n}
    _ref = _ref_chain(_ch)
    for _plan in _plans(_n):
        _got = peak_memory(_ch, _plan)
        assert type(_got) is int and _got == _plan_peak(_ref, _plan), (_ch, _plan, _got, _plan_peak(_ref, _plan))
# zero-byte tensors are allowed: an all-zero chain peaks at 0
for _plan in ("K", "C"):
    _got = peak_memory({"out": [0, 0], "extra": [0], "fwd": [1.0], "bwd": [1.0]}, _plan)
    assert type(_got) is int and _got == 0, (_plan, _got)
_ch = {"out": [0, 3, 0, 2], "extra": [0, 0, 5], "fwd": [1.0] * 3, "bwd": [1.0] * 3}
for _plan in _plans(3):
    assert peak_memory(_ch, _plan) == _plan_peak(_ref_chain(_ch), _plan), _plan
# a long chain
_ch = {"out": [_rng.randint(1, 99) for _ in range(41)], "extra": [_rng.randint(0, 99) for _ in range(40)],
       "fwd": [1.0] * 40, "bwd": [1.0] * 40}
for _plan in ("K" * 40, "CRRRR" * 8, "KC" * 20, "C" * 40):
    assert peak_memory(_ch, _plan) == _plan_peak(_ref_chain(_ch), _plan), _plan
### END HIDDEN TESTS

# %% [markdown] id="md-sqrt"
# ## 2. The sqrt(n) rule and what it costs (3 points)
#
# Chen et al. (section 4.1): cut the chain into segments of $k = \sqrt{n}$ layers, keep only each
# segment's input, recompute each segment in the backward pass. Memory $O(\sqrt n)$, at the price
# of one extra forward pass.
#
# * `sqrt_plan(n)`: segments of `k = round(sqrt(n))` layers (Python's `round`), the last one
#   possibly shorter: `sqrt_plan(8) == "CRRCRRCR"`.
# * `recompute_time(chain, plan)`: the seconds of forward passes the plan repeats (a `float`):
#   every `C` and `R` layer runs its forward pass a second time.

# %% kind="solution" id="sqrt"
def sqrt_plan(n: int) -> str:
    ### BEGIN SOLUTION
    k = round(math.sqrt(n))  # >= 1 for n >= 1
    return "".join("C" if i % k == 0 else "R" for i in range(n))
    ### END SOLUTION


def recompute_time(chain: dict, plan: str) -> float:
    ### BEGIN SOLUTION
    return float(sum(f for f, c in zip(chain["fwd"], plan) if c in "CR"))
    ### END SOLUTION

# %% kind="test" id="test_sqrt" points=3
import math

assert sqrt_plan(9) == "CRRCRRCRR"
assert sqrt_plan(8) == "CRRCRRCR"
_t = recompute_time(SMALL, "CRKK")
assert type(_t) is float and _t == 3.0, _t
### BEGIN HIDDEN TESTS
import random as _random

from mlsys_kit.memory.policies import sqrt_plan as _ref_sqrt
for _n in range(1, 200):
    assert sqrt_plan(_n) == _ref_sqrt(_n), _n
_rng = _random.Random(9)
for _trial in range(30):
    _n = _rng.randint(1, 12)
    _ch = {"out": [1] * (_n + 1), "extra": [0] * _n, "fwd": [_rng.uniform(0.1, 5) for _ in range(_n)], "bwd": [1.0] * _n}
    for _plan in ("K" * _n, sqrt_plan(_n), "C" * _n, "C" + "R" * (_n - 1)):
        _got = recompute_time(_ch, _plan)
        assert type(_got) is float and math.isclose(_got, sum(f for f, c in zip(_ch["fwd"], _plan) if c != "K")), _plan
# one extra forward pass, and sqrt memory
_ch = uniform(100, out=10, extra=30)
assert math.isclose(recompute_time(_ch, sqrt_plan(100)), 100.0)
from mlsys_kit.memory.chain import uniform_chain as _uniform_chain
from mlsys_kit.memory.optimal import plan_peak as _plan_peak
_ref = _uniform_chain(100, 10, 30)
assert _plan_peak(_ref, sqrt_plan(100)) <= 10 * 10 + 40 * 10 + 40 < _plan_peak(_ref, "K" * 100) // 4
### END HIDDEN TESTS

# %% [markdown] id="md-optimal"
# ## 3. The optimal plan under a budget (5 points)
#
# `optimal_plan(chain, budget)`: among all `K`/`C`/`R` plans whose `peak_memory` is at most
# `budget`, one with the least `recompute_time`; return `(plan, recompute_time)` (a `str` and a
# `float`), or `None` if no plan fits. Exact, please, and fast enough for 20 layers (there are
# about $3^{20}$ plans: do not enumerate them).
#
# Hint (dynamic programming, Checkmate section 4 for a chain): walk the chain left to right.
# After a unit ending at layer j, all a partial plan passes on to the rest is `h`, the bytes it
# leaves held for the backward pass (a `K` layer i holds `out[i-1] + extra[i-1]`, a segment
# holds its input `out[l-1]`), and its recompute time. Every op of the next unit peaks at `h`
# plus an amount that depends on that unit alone (work it out from the rules of part 1, or
# measure it with your `peak_memory` on a small chain). Keep, for each j, the pairs (h, time)
# that no other pair beats on both.

# %% kind="solution" id="optimal"
def optimal_plan(chain: dict, budget: int):
    ### BEGIN SOLUTION
    out, extra, fwd = chain["out"], chain["extra"], chain["fwd"]
    n = len(extra)

    def segment_peak(l, r):
        # R_i and B_i of the segment C R..R over layers l..r, above what earlier units hold (its
        # forward ops F_i never peak higher: B_i holds all they do, plus gradients)
        peaks, prefix = [], 0
        for i in range(l, r + 1):
            e = extra[i - 1]
            peaks.append(out[l - 1] + out[r] + prefix + e + out[i])
            peaks.append(out[l - 1] + out[i] + prefix + e + out[i - 1])
            prefix += e + out[i]
        return max(peaks)

    fronts = [[(0, 0.0, "")]] + [[] for _ in range(n)]  # fronts[j]: (held, time, plan) after layer j
    for j in range(n):
        # a K layer peaks in its B: its input and extras, g_{j+1} and g_j
        moves = [(j + 1, "K", 2 * out[j] + extra[j] + out[j + 1], out[j] + extra[j], 0.0)]
        for r in range(j + 1, n + 1):
            moves.append((r, "C" + "R" * (r - j - 1), segment_peak(j + 1, r), out[j], sum(fwd[j:r])))
        for h, t, p in fronts[j]:
            for r, letters, peak, held, cost in moves:
                if h + peak <= budget:
                    fronts[r].append((h + held, t + cost, p + letters))
        pareto, best = [], math.inf
        for h, t, p in sorted(fronts[j + 1]):
            if t < best:
                pareto.append((h, t, p))
                best = t
        fronts[j + 1] = pareto
    if not fronts[n]:
        return None
    h, t, p = fronts[n][-1]  # a Pareto front: held bytes rising, time falling
    return p, float(t)
    ### END SOLUTION

# %% kind="test" id="test_optimal" points=5
import math

_res = optimal_plan(SMALL, 40)
assert type(_res) is tuple and type(_res[0]) is str and type(_res[1]) is float, "return (plan, time)"
assert _res in (("CRKK", 3.0), ("CCKK", 3.0)), _res  # two plans tie
assert optimal_plan(SMALL, 30) is None
assert optimal_plan(SMALL, 1000) == ("KKKK", 0.0)
### BEGIN HIDDEN TESTS
import random as _random

from mlsys_kit.memory.chain import from_lists as _from_lists
from mlsys_kit.memory.lifetimes import check_plan as _check_plan
from mlsys_kit.memory.optimal import optimal_plan as _ref_opt
from mlsys_kit.memory.optimal import plan_peak as _plan_peak


def _ref_chain(ch):
    return _from_lists(ch["out"][1:], ch["extra"], ch["fwd"], ch["bwd"], ch["out"][0])


_rng = _random.Random(13)
for _trial in range(60):
    _n = _rng.randint(1, 9) if _trial < 50 else 20
    _ch = {"out": [_rng.randint(1, 20) for _ in range(_n + 1)], "extra": [_rng.randint(0, 40) for _ in range(_n)],
           "fwd": [float(_rng.randint(1, 6)) for _ in range(_n)], "bwd": [1.0] * _n}
    _ref = _ref_chain(_ch)
    _budget = _rng.randint(_ref.out(0) + 5, _plan_peak(_ref, "K" * _n) + 10)
    _want = _ref_opt(_ref, _budget)
    _got = optimal_plan(_ch, _budget)
    if _want is None:
        assert _got is None, (_ch, _budget, _got)
        continue
    assert type(_got) is tuple and type(_got[0]) is str and type(_got[1]) is float, _got
    _check_plan(_ref, _got[0])
    assert "S" not in _got[0] and _plan_peak(_ref, _got[0]) <= _budget, (_ch, _budget, _got)
    assert math.isclose(_got[1], _want[1]), (_ch, _budget, _got, _want)
    assert math.isclose(_got[1], sum(f for f, c in zip(_ch["fwd"], _got[0]) if c != "K"))
# budgets exactly at a plan's peak (and one byte below): a peak counted one byte high loses it
import itertools as _it


def _plans(n):
    for p in _it.product("KCR", repeat=n):
        if p[0] != "R" and all(c != "R" or p[i - 1] in "CR" for i, c in enumerate(p) if i):
            yield "".join(p)


for _trial in range(8):
    _n = 2 + _trial % 3
    _ch = {"out": [_rng.randint(0, 12) for _ in range(_n + 1)], "extra": [_rng.randint(0, 20) for _ in range(_n)],
           "fwd": [float(_rng.randint(1, 4)) for _ in range(_n)], "bwd": [1.0] * _n}
    _ref = _ref_chain(_ch)
    for _budget in sorted({_plan_peak(_ref, _p) - _d for _p in _plans(_n) for _d in (0, 1)}):
        _want, _got = _ref_opt(_ref, _budget), optimal_plan(_ch, _budget)
        if _want is None:
            assert _got is None, (_ch, _budget, _got)
            continue
        assert type(_got) is tuple and type(_got[0]) is str and type(_got[1]) is float, _got
        assert _plan_peak(_ref, _got[0]) <= _budget and math.isclose(_got[1], _want[1]), (_ch, _budget, _got, _want)
### END HIDDEN TESTS

# %% [markdown] id="md-prefetch"
# ## 4. Offload: when does the prefetch arrive? (4 points)
#
# vDNN (section 3.2) copies a layer's saved tensors to the host after its forward pass and
# brings them back just before its backward pass needs them, over one link (one copy at a time).
#
# `prefetch_schedule(durations, transfers, lookahead=1)`: the backward pass runs ops
# `0, 1, ...` in order; op j takes `durations[j]` seconds and needs a prefetch of
# `transfers[j]` seconds first (`None`: nothing to fetch). The prefetch for op j is **issued
# when op `j - lookahead` starts** (ops `0 .. lookahead-1`: at time 0), and starts when it is
# issued and the link is free (copies go in issue order). Op j starts when op j-1 has ended and
# its prefetch has arrived; the wait is a *stall*. Return a dict: `"start"` and `"end"` (lists
# of floats, one per op), `"stall"` (total, float) and `"time"` (when the last op ends, float).

# %% kind="solution" id="prefetch"
def prefetch_schedule(durations: list, transfers: list, lookahead: int = 1) -> dict:
    ### BEGIN SOLUTION
    arrive = [None] * len(durations)
    link = 0.0

    def issue(j, when):
        nonlocal link
        if j < len(durations) and transfers[j] is not None:
            link = max(when, link) + transfers[j]
            arrive[j] = link

    for j in range(min(lookahead, len(durations))):
        issue(j, 0.0)
    t, stall, starts, ends = 0.0, 0.0, [], []
    for j, d in enumerate(durations):
        s = max(t, arrive[j]) if arrive[j] is not None else t
        stall += s - t
        issue(j + lookahead, s)
        starts.append(float(s))
        t = s + d
        ends.append(float(t))
    return {"start": starts, "end": ends, "stall": float(stall), "time": float(t)}
    ### END SOLUTION

# %% kind="test" id="test_prefetch" points=4
import math

_s = prefetch_schedule([2.0, 2.0, 2.0], [None, 1.0, 3.0])
assert type(_s) is dict and type(_s["stall"]) is float and type(_s["start"]) is list
assert _s["start"] == [0.0, 2.0, 5.0] and _s["stall"] == 1.0 and _s["time"] == 7.0, _s
### BEGIN HIDDEN TESTS
import random as _random

from mlsys_kit.memory.lifetimes import prefetch_schedule as _ref_pf
_s = prefetch_schedule([2.0, 1.0, 2.0, 1.0], [1.5, 2.5, None, 1.0])
assert _s["start"] == [1.5, 4.0, 5.0, 7.0] and _s["stall"] == 2.0 and _s["time"] == 8.0, _s
_rng = _random.Random(21)
for _trial in range(80):
    _n = _rng.randint(1, 12)
    _d = [float(_rng.randint(1, 6)) for _ in range(_n)]
    _x = [None if _rng.random() < 0.3 else float(_rng.randint(0, 8)) for _ in range(_n)]
    _la = _rng.choice([1, 1, 2, 3])
    _got, _want = prefetch_schedule(_d, _x, _la), _ref_pf(_d, _x, lookahead=_la)
    assert type(_got) is dict and all(type(v) is float for v in _got["start"] + _got["end"]), _got
    for _k in ("start", "end"):
        assert len(_got[_k]) == _n and all(math.isclose(a, b) for a, b in zip(_got[_k], _want[_k])), (_d, _x, _la, _k, _got)
    assert math.isclose(_got["stall"], _want["stall"]) and math.isclose(_got["time"], _want["time"]), (_d, _x, _la, _got)
### END HIDDEN TESTS

# %% [markdown] id="md-design"
# ## 5. Design question: the largest batch in 16 GB, and at what slowdown (4 points)
#
# GPT-2 small (12 blocks, sequence 1,024) trained with mixed-precision Adam: its model states
# take `GPT2_STATE_BYTES` (124,439,808 parameters x 16 bytes) for the whole step; the rest of a
# 16 GB device is for what `peak_memory` counts. `gpt2_chain(batch)` (given, in the next cell)
# is its chain: per block $s b h (34 + 5 a s / h)$ bytes of activations (Korthikanti et al.
# 2022), the block input $2 s b h$ of them, times for a device at 156 TFLOP/s.
#
# `largest_batches(budget)`: with `budget` bytes of device memory, return a dict with
# `"keep_all"`: the largest batch that fits with plan `"K" * 12` (an `int`, 0 if none);
# `"optimal"`: the largest batch for which some plan fits (`optimal_plan`, an `int`); and
# `"slowdown"`: at that batch, the optimal plan's step time over the plain step, (compute +
# recompute) / compute, where compute is every layer's forward and backward (a `float`).
# Use your functions from parts 1 and 3. (2 points, autograded.)
#
# Then answer in the cell at the end of this section, in a few sentences (2 points, graded by hand):
# **why would offloading the activations over a 16 GB/s link
# (`mlsys-kit memory plan --preset gpt2 --batch 8 --policy offload --link-gbps 16`) not help this
# model on this device, while it did help VGG-16 on a 2016 GPU
# (`mlsys-kit memory plan --preset vgg16 --batch 256 --policy offload --link-gbps 16`)?** Give the
# numbers the two commands print that decide it.

# %% kind="locked" id="gpt2"
GPT2_STATE_BYTES = 124_439_808 * 16


def gpt2_chain(batch, seq=1024, layers=12, hidden=768, heads=12, flops_per_s=156e12):
    """GPT-2 small's blocks as a chain at this batch (bytes: int, times: seconds)."""
    act = seq * batch * hidden * 34 + 5 * heads * seq * seq * batch
    boundary = 2 * seq * batch * hidden
    flops = batch * seq * (2 * 12 * hidden * hidden + 4 * (seq // 2) * hidden)
    return {"out": [boundary] * (layers + 1), "extra": [act - boundary] * layers,
            "fwd": [flops / flops_per_s] * layers, "bwd": [2 * flops / flops_per_s] * layers}

# %% kind="solution" id="design"
def largest_batches(budget: float = 16e9) -> dict:
    ### BEGIN SOLUTION
    free = budget - GPT2_STATE_BYTES

    def largest(fits):
        b = 0
        while fits(b + 1):
            b += 1
        return b

    keep = largest(lambda b: peak_memory(gpt2_chain(b), "K" * 12) <= free)
    best = largest(lambda b: optimal_plan(gpt2_chain(b), free) is not None)
    slowdown = 1.0
    if best:
        chain = gpt2_chain(best)
        compute = sum(chain["fwd"]) + sum(chain["bwd"])
        slowdown = (compute + optimal_plan(chain, free)[1]) / compute
    return {"keep_all": keep, "optimal": best, "slowdown": float(slowdown)}
    ### END SOLUTION

# %% kind="test" id="test_design" points=2
import math

_b = largest_batches(16e9)
assert type(_b) is dict and type(_b["keep_all"]) is int and type(_b["optimal"]) is int, _b
assert type(_b["slowdown"]) is float, _b
assert 0 < _b["keep_all"] < _b["optimal"] and 1.0 < _b["slowdown"] <= 4 / 3 + 1e-9, _b
### BEGIN HIDDEN TESTS
from mlsys_kit.memory.chain import transformer_chain as _tc
from mlsys_kit.memory.policies import largest_batch as _lb

for _budget in (16e9, 12e9, 40e9):
    _got = largest_batches(_budget)
    _k, _ = _lb(lambda b: _tc("gpt2", b), "all", _budget)
    _o, _r = _lb(lambda b: _tc("gpt2", b), "optimal", _budget)
    assert _got["keep_all"] == _k and _got["optimal"] == _o, (_budget, _got, _k, _o)
    assert math.isclose(_got["slowdown"], _r.step.step_time / _r.step.compute_time, rel_tol=1e-9), (_budget, _got)
assert largest_batches(1.5e9) == {"keep_all": 0, "optimal": 0, "slowdown": 1.0}
# a budget where batch 5 keeping everything fits to the byte
from mlsys_kit.memory.optimal import plan_peak as _plan_peak
_budget = float(_plan_peak(_tc("gpt2", 5), "K" * 12))  # the model states included
_got = largest_batches(_budget)
assert type(_got["keep_all"]) is int and _got["keep_all"] == 5, (_budget, _got)
### END HIDDEN TESTS

# %% [markdown] kind="answer" id="q_offload_why" points=2
# Offloading pays when a layer's copy to the host (and back) hides behind the layer's compute. For
# GPT-2 small at batch 8 the step computes in about 30 ms on a 156 TFLOP/s device, but it would move
# about 7.9 GB of activations each way over the link: 7.9 GB / 16 GB/s is about 0.5 s per direction,
# so the step takes about 990 ms, 33x the compute, almost all of it stalls. Hiding the copies would
# need a link of a few hundred GB/s. VGG-16 at batch 256 on a Titan X (about 4.3 TFLOP/s effective)
# computes for about 5.8 s and offloads about 15.6 GB, which 16 GB/s moves in about 1 s each way,
# mostly under the compute: the step is only about 14 % slower. The device got about 36x faster
# while the PCIe link stayed at 16 GB/s, and a transformer block does few FLOPs per byte of
# activation (its attention scores alone are 5 a s^2 b bytes), so the ratio of compute time to copy
# time, which decides whether the copies hide, fell by orders of magnitude. Recomputation (one
# extra forward, at most 4/3 the step) is the cheaper way to buy the memory back here.

# %% [markdown] kind="rubric" id="q_offload_why_rubric"
# Rubric (2 points):
#
# * 1 point: the criterion. Offloading is free only when the copies overlap the compute (the
#   prefetch of part 4 arrives before the layer's backward needs it); when the transfer time exceeds
#   the compute time, the difference is a stall.
# * 1 point: the numbers that decide it, from the two commands: GPT-2 on the 156 TFLOP/s device
#   computes in about 30 ms but moves about 7.9 GB each way (about 0.5 s at 16 GB/s): step about
#   33x slower; VGG-16 on the 2016 GPU computes for about 5.8 s against about 1 s of copies each
#   way: about 1.14x. The device is about 36x faster with the same link. Half a point for the right
#   direction without numbers.
# * Typical wrong answer: "GPT-2 has more activations" or "the host memory is too small" (the
#   bytes per step are of the same order for both; what changed is the compute time they must hide
#   behind), or "offloading does not save memory" (it does: the peak falls to about 3.5 GB).
