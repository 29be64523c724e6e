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
# Your functions read a chain and never change it.
#
# Fill in every cell that says `YOUR CODE HERE` (delete the `raise NotImplementedError()`), then
# run the test cell below it. Hidden tests check many random chains and plans. Total: 23 points:
# 19 autograded, and 4 for the two "why" answers (sections 5 and 6), which your instructor
# grades by hand.

# %% kind="locked" id="setup"
import math


def uniform(n, out=10, extra=5, fwd=1.0, bwd=2.0):
    """n identical layers; the input is as big as an output."""
    return {"out": [out] * (n + 1), "extra": [extra] * n, "fwd": [fwd] * n, "bwd": [bwd] * n}


def units(plan):
    """The plan's backward units left to right as (l, r), 1-based inclusive: a K layer alone, or
    a segment C R..R."""
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
# * **Backward**, units right to left (see `units`): a `K` layer runs `B_i`; a segment
#   `C R .. R` (layers l..r) first recomputes `R_l, ..., R_r` (each allocates layer i's extra
#   tensors and $x_i$; $x_r$ is freed right after `R_r`, nobody needs it), then runs
#   `B_r, ..., B_l`.
# * `B_i` allocates $g_{i-1}$ (`out[i-1]`) and, when it ends, frees $g_i$, layer i's extra
#   tensors and $x_{i-1}$ (and $g_0$ after `B_1`).
#
# `plan_peak(chain, plan)`: the largest number of bytes live during any op (an `int`). Plans
# here have only `K`, `C`, `R`; `chain` is left as it is. With `uniform(3)` (10-byte outputs, 5 extra): `"KKK"` peaks at
# 65 bytes, during `B_3`: 3 x 15 saved + $g_3$ + $g_2$.

# %% kind="solution" id="peak"
def plan_peak(chain: dict, plan: str) -> int:
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
    for l, r in reversed(units(plan)):
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

for _ch, _name, _plan, _want in ((uniform(3), "uniform(3)", "KKK", 65), (uniform(3), "uniform(3)", "CCC", 55),
                                 (SMALL, "SMALL", "CRCR", 40)):
    _p = plan_peak(_ch, _plan)
    assert type(_p) is int, f"plan_peak({_name}, {_plan!r}) should return an int, got {type(_p).__name__} {_p!r}"
    assert _p == _want, f"plan_peak({_name}, {_plan!r}): expected {_want} bytes, got {_p}"
### BEGIN HIDDEN TESTS
from mlsys_kit.memory.chain import from_lists as _from_lists
from mlsys_kit.memory.optimal import all_plans as _all_plans, plan_peak as _plan_peak


def _ref_chain(ch):
    return _from_lists(ch["out"][1:], ch["extra"], ch["fwd"], ch["bwd"], ch["out"][0])


def _ref_peak(ch, plan):
    return _plan_peak(_ref_chain(ch), plan)


def _draw_chain(rng, n, top=30, zeros=0.15):
    """A chain of n layers: bytes ints >= 0 (some 0), times floats > 0."""
    b = lambda: 0 if rng.random() < zeros else rng.randint(1, top)
    return {"out": [b() for _ in range(n + 1)], "extra": [b() for _ in range(n)],
            "fwd": [rng.choice([0.5, 1.0, 2.0, rng.uniform(0.1, 5)]) for _ in range(n)],
            "bwd": [rng.uniform(0.1, 5) for _ in range(n)]}


def _draw_plan(rng, n):
    plan = ""
    for i in range(n):
        plan += rng.choice("KC" if i == 0 or plan[-1] == "K" else "KCR")
    return plan


_rng = student_rng("peak")
_cases = [({"out": [0, 0], "extra": [0], "fwd": [1.0], "bwd": [1.0]}, _plan) for _plan in ("K", "C")]  # all zero
_cases += [({"out": [0, 3, 0, 2], "extra": [0, 0, 5], "fwd": [1.0] * 3, "bwd": [1.0] * 3}, _plan)
           for _plan in _all_plans(3)]
for _trial in range(30):  # your own chains (n = 1..6, zero-byte tensors too), each with every kind of plan
    _n = _rng.randint(1, 6)
    _ch = _draw_chain(_rng, _n)
    _plans = ["K" * _n, "C" * _n, "C" + "R" * (_n - 1)] + [_draw_plan(_rng, _n) for _ in range(7)]
    _cases += [(_ch, _plan) for _plan in dict.fromkeys(_plans)]
_ch = _draw_chain(_rng, 40, top=99, zeros=0.05)  # a long chain
_cases += [(_ch, _plan) for _plan in ("K" * 40, "CRRRR" * 8, "KC" * 20, "C" * 40, _draw_plan(_rng, 40))]
same_as_reference(plan_peak, _ref_peak, _cases, label="plan_peak(chain, plan)")
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

for _n, _want in ((9, "CRRCRRCRR"), (8, "CRRCRRCR")):
    _got = sqrt_plan(_n)
    assert _got == _want, f"sqrt_plan({_n}): segments of round(sqrt({_n})) = {round(math.sqrt(_n))} layers: " \
        f"expected {_want!r}, got {_got!r}"
_t = recompute_time(SMALL, "CRKK")
assert type(_t) is float and _t == 3.0, \
    f"recompute_time(SMALL, 'CRKK'): layers 1 and 2 run their forward again, 1.0 + 2.0 = 3.0 s (a float); got {_t!r}"
### BEGIN HIDDEN TESTS
from mlsys_kit.memory.policies import sqrt_plan as _ref_sqrt
_rng = student_rng("sqrt")
same_as_reference(sqrt_plan, _ref_sqrt, [(_n,) for _n in list(range(1, 65)) + [_rng.randint(65, 5000) for _ in range(20)]],
                  label="sqrt_plan(n)")


def _draw_plan(rng, n):
    plan = ""
    for i in range(n):
        plan += rng.choice("KC" if i == 0 or plan[-1] == "K" else "KCR")
    return plan


_cases = []
for _trial in range(30):  # float times that do not add up exactly (0.1 + 0.2), every kind of plan
    _n = _rng.randint(1, 12)
    _ch = {"out": [1] * (_n + 1), "extra": [0] * _n, "fwd": [_rng.choice([0.1, 0.2, 0.3, _rng.uniform(0.1, 5)]) for _ in range(_n)],
           "bwd": [1.0] * _n}
    _cases += [(_ch, _plan) for _plan in ("K" * _n, sqrt_plan(_n), "C" * _n, "C" + "R" * (_n - 1), _draw_plan(_rng, _n))]
same_as_reference(recompute_time, lambda ch, plan: sum(f for f, c in zip(ch["fwd"], plan) if c != "K") + 0.0, _cases,
                  label="recompute_time(chain, plan)")
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
# `optimal_plan(chain, budget_bytes)`: among all `K`/`C`/`R` plans whose `plan_peak` is at most
# `budget_bytes` (an `int` or a `float`), one with the least `recompute_time`; return
# `(plan, recompute_time)` (a `str` and a `float`), or `None` if no plan fits. Exact, please, and fast enough for 20 layers (there are
# about $3^{20}$ plans: do not enumerate them).
#
# Hint (dynamic programming, Checkmate section 4 for a chain): walk the chain left to right.
# After a unit ending at layer j, all a partial plan passes on to the rest is `h`, the bytes it
# leaves held for the backward pass (a `K` layer i holds `out[i-1] + extra[i-1]`, a segment
# holds its input `out[l-1]`), and its recompute time. Every op of the next unit peaks at `h`
# plus an amount that depends on that unit alone (work it out from the rules of part 1, or
# measure it with your `plan_peak` on a small chain). Keep, for each j, the pairs (h, time)
# that no other pair beats on both.

# %% kind="solution" id="optimal"
def optimal_plan(chain: dict, budget_bytes: float):
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
                if h + peak <= budget_bytes:
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
assert type(_res) is tuple and len(_res) == 2 and type(_res[0]) is str and type(_res[1]) is float, \
    f"optimal_plan(SMALL, 40) returns (plan, time), a str and a float: got {_res!r}"
assert _res in (("CRKK", 3.0), ("CCKK", 3.0)), \
    f"optimal_plan(SMALL, 40): CRKK and CCKK both peak at 40 bytes and recompute 3.0 s, the least; got {_res!r}"
_res = optimal_plan(SMALL, 30)
assert _res is None, f"optimal_plan(SMALL, 30): no plan peaks at 30 bytes or less, so None; got {_res!r}"
_res = optimal_plan(SMALL, 1000)
assert _res == ("KKKK", 0.0), f"optimal_plan(SMALL, 1000): keeping everything fits, ('KKKK', 0.0); got {_res!r}"
### BEGIN HIDDEN TESTS
import copy as _copy
import itertools as _it

from mlsys_kit.memory.chain import from_lists as _from_lists
from mlsys_kit.memory.lifetimes import check_plan as _check_plan
from mlsys_kit.memory.optimal import all_plans as _all_plans, optimal_plan as _ref_opt, plan_peak as _plan_peak


def _ref_chain(ch):
    return _from_lists(ch["out"][1:], ch["extra"], ch["fwd"], ch["bwd"], ch["out"][0])


def _check(ch, budget, got):
    """got is an optimal plan of ch under budget, or None where the reference finds none."""
    ref = _ref_chain(ch)
    want = _ref_opt(ref, budget)
    case = f"optimal_plan({ch}, {budget!r})"
    if want is None:
        assert got is None, f"{case}: no plan fits, expected None, got {got!r}"
        return
    assert type(got) is tuple and len(got) == 2 and type(got[0]) is str and type(got[1]) is float, \
        f"{case}: expected (plan, time), a str and a float, got {got!r}"
    _check_plan(ref, got[0])
    assert "S" not in got[0], f"{case}: {got[0]!r}: plans here have K, C and R only"
    assert _plan_peak(ref, got[0]) <= budget, f"{case}: {got[0]!r} peaks at {_plan_peak(ref, got[0])}, over the budget"
    assert math.isclose(got[1], sum(f for f, c in zip(ch["fwd"], got[0]) if c != "K")), \
        f"{case}: {got[0]!r} recomputes {sum(f for f, c in zip(ch['fwd'], got[0]) if c != 'K')} s, not {got[1]}"
    assert math.isclose(got[1], want[1]), f"{case}: {got[0]!r} recomputes {got[1]} s; {want[0]!r} fits and recomputes {want[1]} s"


# fixed cases for every variant: a segment whose recompute (R_r, with g_r live) peaks above its backward
# ops and decides the fit; K and C holding the same bytes at one layer (the faster plan must win)
for _ch, _budget in (({"out": [4, 2, 8, 6], "extra": [3, 7, 0], "fwd": [4.0, 2.0, 4.0], "bwd": [1.0] * 3}, 29),
                     ({"out": [9, 4, 6, 8], "extra": [5, 8, 5], "fwd": [1.0, 1.0, 4.0], "bwd": [1.0] * 3}, 37),
                     ({"out": [5, 1, 4, 0], "extra": [6, 0, 4], "fwd": [3.0, 2.0, 3.0], "bwd": [1.0] * 3}, 17),
                     ({"out": [8, 2], "extra": [0], "fwd": [3.0], "bwd": [1.0]}, 20)):
    _check(_ch, _budget, optimal_plan(_ch, _budget))
_rng = student_rng("optimal")
for _trial in range(50):  # your own chains, budgets from too small to everything, ints and floats
    _n = _rng.randint(1, 9) if _trial < 44 else 20
    _ch = {"out": [_rng.randint(1, 20) for _ in range(_n + 1)], "extra": [_rng.randint(0, 40) for _ in range(_n)],
           "fwd": [_rng.choice([float(_rng.randint(1, 6)), 0.1, 0.2, 0.3, _rng.uniform(0.1, 6)]) for _ in range(_n)],
           "bwd": [1.0] * _n}
    _ref = _ref_chain(_ch)
    _budget = _rng.randint(_ref.out(0) + 5, _plan_peak(_ref, "K" * _n) + 10) + _rng.choice([0, 0, 0.5])
    _before = _copy.deepcopy(_ch)
    _got = optimal_plan(_ch, _budget)
    assert _ch == _before, f"optimal_plan changed its chain: {_before} -> {_ch}"
    _check(_ch, _budget, _got)
# budgets exactly at a plan's peak, and just below (an int one byte below, a float half a byte below):
# a peak counted one byte high, or a budget rounded, loses it
for _trial in range(8):
    _n = 2 + _trial % 3
    _ch = {"out": [_rng.randint(0, 12) for _ in range(_n + 1)], "extra": [_rng.randint(0, 20) for _ in range(_n)],
           "fwd": [float(_rng.randint(1, 4)) for _ in range(_n)], "bwd": [1.0] * _n}
    _ref = _ref_chain(_ch)
    for _budget in sorted({_plan_peak(_ref, _p) - _d for _p in _all_plans(_n) for _d in (0, 1, 0.5)} - {0, 0.5, -1, -0.5}):
        _check(_ch, _budget, optimal_plan(_ch, _budget))
### END HIDDEN TESTS

# %% [markdown] id="md-prefetch"
# ## 4. Offload: when does the prefetch arrive? (4 points)
#
# vDNN (section 3.2) copies a layer's saved tensors to the host after its forward pass and
# brings them back just before its backward pass needs them, over one link (one copy at a time).
#
# `prefetch_schedule(durations, transfers, *, lookahead=1)` (`lookahead` is given by name): the
# backward pass runs ops
# `0, 1, ...` in order; op j takes `durations[j]` seconds and needs a prefetch of
# `transfers[j]` seconds first (`None`: nothing to fetch). The prefetch for op j is **issued
# when op `j - lookahead` starts** (ops `0 .. lookahead-1`: at time 0), and starts when it is
# issued and the link is free (copies go in issue order). Op j starts when op j-1 has ended and
# its prefetch has arrived; the wait is a *stall*. Return a dict: `"start"` and `"end"` (lists
# of floats, one per op), `"stall"` (total, float) and `"time"` (when the last op ends, float).
# `durations` and `transfers` are left as they are.

# %% kind="solution" id="prefetch"
def prefetch_schedule(durations: list, transfers: list, *, lookahead: int = 1) -> dict:
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
_case = "prefetch_schedule([2.0, 2.0, 2.0], [None, 1.0, 3.0])"
assert type(_s) is dict and type(_s.get("stall")) is float and type(_s.get("start")) is list, \
    f"{_case} returns a dict with 'start', 'end' (lists of floats), 'stall' and 'time' (floats): got {_s!r}"
for _key, _want in (("start", [0.0, 2.0, 5.0]), ("end", [2.0, 4.0, 7.0]), ("stall", 1.0), ("time", 7.0)):
    assert _s[_key] == _want, f"{_case}: {_key!r} should be {_want}, got {_s[_key]!r} (op 2's 3 s copy is issued " \
        "when op 1 starts, at 2.0, and arrives at 5.0)"
### BEGIN HIDDEN TESTS
from mlsys_kit.memory.lifetimes import prefetch_schedule as _ref_pf


def _plain(res):
    """The reference's schedule as the lab's contract has it (no per-copy times)."""
    return {"start": [float(x) for x in res["start"]], "end": [float(x) for x in res["end"]],
            "stall": float(res["stall"]), "time": float(res["time"])}


_cases = [(([2.0, 1.0, 2.0, 1.0], [1.5, 2.5, None, 1.0]), {}), (([1.0], [None]), {"lookahead": 3}),
          (([1.0, 1.0], [0.0, 0.0]), {})]
# the same durations with other copies, and the same copies with another lookahead (nothing is
# remembered from one call to the next)
_cases += [(([2.0, 2.0, 2.0], [None, 1.0, 3.0]), {"lookahead": 2}), (([2.0, 2.0, 2.0], [4.0, None, 1.0]), {}),
           (([2.0, 2.0, 2.0], [4.0, None, 1.0]), {"lookahead": 2}), (([2.0, 2.0, 2.0], [None, 1.0, 3.0]), {})]
_rng = student_rng("prefetch")
for _trial in range(70):  # every lookahead from 1 to past the last op (and the default), zero-time copies,
    _n = _rng.randint(1, 12)  # durations and copies that do not add up exactly (0.1 + 0.2)
    _d = [_rng.choice([float(_rng.randint(1, 6)), 0.1, 0.2, 0.3, _rng.uniform(0.05, 6)]) for _ in range(_n)]
    _x = [None if _rng.random() < 0.3 else _rng.choice([float(_rng.randint(0, 8)), 0.1, 0.2, _rng.uniform(0, 8)])
          for _ in range(_n)]
    _la = _rng.choice([None, 1, 2, 3, _rng.randint(1, _n + 2)])
    _cases.append(((_d, _x), {} if _la is None else {"lookahead": _la}))
same_as_reference(prefetch_schedule, lambda d, x, **kw: _plain(_ref_pf(d, x, **kw)), _cases, abs_tol=1e-9,
                  label="prefetch_schedule(durations, transfers, lookahead=...)")
### END HIDDEN TESTS

# %% [markdown] id="md-design"
# ## 5. Design question: the largest batch in 16 GB, and at what slowdown (4 points)
#
# GPT-2 small (12 blocks, sequence 1,024) trained with mixed-precision Adam: its model states
# take `GPT2_STATE_BYTES` (124,439,808 parameters x 16 bytes) for the whole step; the rest of a
# 16 GB device is for what `plan_peak` counts. `gpt2_chain(batch)` (given, in the next cell)
# is its chain: per block $s b h (34 + 5 a s / h)$ bytes of activations (Korthikanti et al.
# 2022), the block input $2 s b h$ of them, times for a device at 156 TFLOP/s.
#
# `largest_batches(budget_bytes=16e9)`: with `budget_bytes` bytes of device memory, return a dict with
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
def largest_batches(budget_bytes: float = 16e9) -> dict:
    ### BEGIN SOLUTION
    free = budget_bytes - GPT2_STATE_BYTES

    def largest(fits):
        b = 0
        while fits(b + 1):
            b += 1
        return b

    keep = largest(lambda b: plan_peak(gpt2_chain(b), "K" * 12) <= free)
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
assert type(_b) is dict and type(_b.get("keep_all")) is int and type(_b.get("optimal")) is int \
    and type(_b.get("slowdown")) is float, \
    f"largest_batches(16e9) returns {{'keep_all': int, 'optimal': int, 'slowdown': float}}: got {_b!r}"
assert 0 < _b["keep_all"] < _b["optimal"], \
    f"largest_batches(16e9): some batch fits keeping everything, and recomputing fits a bigger one: got {_b}"
assert 1.0 < _b["slowdown"] <= 4 / 3 + 1e-9, \
    f"largest_batches(16e9): recomputing costs at most one more forward pass (4/3 of a step): slowdown {_b['slowdown']}"
### BEGIN HIDDEN TESTS
from mlsys_kit.memory.chain import transformer_chain as _tc
from mlsys_kit.memory.policies import largest_batch as _lb

for _budget in (None, 12e9, 40_000_000_000):  # None: the default budget_bytes, 16e9; an int budget too
    _got = largest_batches() if _budget is None else largest_batches(_budget)
    _case = "largest_batches()" if _budget is None else f"largest_batches({_budget!r})"
    _budget = 16e9 if _budget is None else _budget
    _k, _ = _lb(lambda b: _tc("gpt2", b), "all", _budget)
    _o, _r = _lb(lambda b: _tc("gpt2", b), "optimal", _budget)
    _want = {"keep_all": _k, "optimal": _o, "slowdown": _r.step.step_time / _r.step.compute_time}
    assert type(_got) is dict and _got.get("keep_all") == _k and _got.get("optimal") == _o \
        and math.isclose(_got.get("slowdown", 0.0), _want["slowdown"], rel_tol=1e-9), f"{_case}: expected {_want}, got {_got!r}"
_got = largest_batches(1.5e9)
assert _got == {"keep_all": 0, "optimal": 0, "slowdown": 1.0}, \
    f"largest_batches(1.5e9): the model states alone take more than that, no batch fits: expected " \
    f"{{'keep_all': 0, 'optimal': 0, 'slowdown': 1.0}}, got {_got!r}"
# a budget where batch 5 keeping everything fits to the byte
from mlsys_kit.memory.optimal import plan_peak as _plan_peak
_budget = float(_plan_peak(_tc("gpt2", 5), "K" * 12))  # the model states included
_got = largest_batches(_budget)
assert type(_got["keep_all"]) is int and _got["keep_all"] == 5, \
    f"largest_batches({_budget!r}): batch 5 keeping everything peaks at exactly this budget: keep_all 5, got {_got!r}"
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

# %% [markdown] id="md-oplevel"
# ## 6. Design question: why plans at the level of operators win (2 points)
#
# Everything above decides per *layer*: a block keeps all it saves, or only its input. Checkmate
# (MLSys'20, section 4) decides per *operator*, on the graph of the step. `mlsys-kit` traces that
# graph from the tiny GPT (4 blocks, batch 8, sequence 128: about 45 operators a block) and
# solves the integer program at both levels. Run:
#
# ```
# mlsys-kit memory plan --level op --preset tiny --policy all
# mlsys-kit memory plan --level op --preset tiny --policy block-optimal --budget-gb 0.0232
# mlsys-kit memory plan --level op --preset tiny --policy optimal --budget-gb 0.0232
# ```
#
# **With the same 23.2 MB budget for what the forward pass keeps, why does the best plan made of
# whole blocks recompute about 190 times more FLOPs than the best plan made of operators? Which
# tensors does the operator-level plan drop, and why are they cheap to rebuild?** Give the numbers
# the commands print that show it, in a few sentences.

# %% [markdown] kind="answer" id="q_oplevel_why" points=2
# Keep-all saves 36.84 MB. A block plan can only drop a whole block's activations: to get within
# 23.2 MB it checkpoints two blocks (21.05 MB saved) and must rerun their forward passes in the
# backward, 0.675 GFLOP, almost all of it matmuls. The operator-level plan saves 23.20 MB and
# recomputes 0.0035 GFLOP, none of it a matmul or attention: it keeps the matmul outputs (q/k/v,
# the MLP's pre-GELU activations) and the attention output, and drops the tensors a pointwise
# operator rebuilds from a kept neighbour: GELU outputs, LayerNorm outputs, residual sums. Those
# cost about one FLOP per byte-sized element, while a matmul output costs 2·C FLOPs per element
# (hundreds), so bytes per recomputed FLOP differ by two orders of magnitude, and the finer
# granularity lets the plan take the cheap bytes only. This is what torch's min-cut partitioner
# also exploits (23.13 MB, no matmul recomputed).

# %% [markdown] kind="rubric" id="q_oplevel_why_rubric"
# Rubric (2 points):
#
# * 1 point: the mechanism. A block plan's unit is all of a block's activations, so freeing any of
#   them costs the block's forward pass (matmuls); an operator plan frees tensors one by one and
#   picks those whose producers are cheap (pointwise, LayerNorm: about one FLOP per element) while
#   keeping the outputs of matmuls (about 2·C FLOPs per element).
# * 1 point: the numbers: keep-all 36.84 MB; block plan 21.05 MB saved for 0.675 GFLOP recomputed
#   (matmul 0.673); operator plan 23.20 MB for 0.0035 GFLOP (no matmul). Half a point for the
#   right direction without numbers.
# * Typical wrong answer: "the operator plan saves fewer bytes" (it saves more: the budget is the
#   same) or "the integer program is exact and the block DP is not" (both are exact for their
#   own units; the units differ).
