# lab1-pipeline: the source of labs/source/lab1-pipeline/lab1-pipeline.ipynb (jupytext percent format).
# Build the notebook with `mlsys-grade build lab1-pipeline`; docs/labs.md says how a lab is written.
# mlsys_grade: {"reference": ["mlsys_kit.pipeline.generators", "mlsys_kit.pipeline.simulate", "mlsys_kit.pipeline.schedule", "mlsys_kit.pipeline.validate"]}

# %% [markdown] id="intro"
# # Lab 1: pipeline-parallel schedules
#
# A model too big for one device is cut into `p` consecutive **stages**, one per rank, and the batch
# into `m` **microbatches** that flow through them. A *schedule* says, for every rank, the order in
# which it runs its forwards and backwards. In this lab you write the 1F1B schedule, an event
# simulator that times any schedule, and the two metrics that decide between schedules: the
# **bubble** (idle time) and the **activation memory**.
#
# Reading: GPipe (NeurIPS'19, section 2.2); PipeDream-Flush / 1F1B (Megatron-LM, SC'21, section
# 2.2.1); Zero Bubble (ICLR'24, section 2) for the vocabulary.
#
# **Format used throughout.** Stage `r` lives on rank `r`. A schedule is a list with one entry per
# rank; entry `r` is the ordered list of rank `r`'s actions, each a tuple `(kind, microbatch)` with
# kind `"F"` (forward) or `"BW"` (the backward, for inputs and weights together, as in the Zero
# Bubble paper's vocabulary). The helper `gpipe(p, m)` below shows it.
#
# Fill in every cell that says `YOUR CODE HERE` (delete the `raise NotImplementedError()`), then run
# the test cell below it. Hidden tests sweep many `(p, m)` and compare with a reference. Total: 12 points:
# 10 autograded, and 2 for the closing "why" answer, which your instructor grades by hand.

# %% kind="locked" id="setup"
def gpipe(p, m):
    """GPipe: every rank runs F0 .. F(m-1), then BW0 .. BW(m-1)."""
    return [[("F", i) for i in range(m)] + [("BW", i) for i in range(m)] for _ in range(p)]


def random_schedule(rng, p, m):
    """A valid schedule of F and BW for p stages and m microbatches in a random order (each action is
    appended once everything it waits for is, so it never deadlocks): for your own checks, e.g.
    `simulate(random_schedule(random.Random(0), 3, 4))`; the hidden tests draw theirs the same way."""
    ranks, done = [[] for _ in range(p)], set()
    left = [[("F", i) for i in range(m)] + [("BW", i) for i in range(m)] for _ in range(p)]
    while any(left):
        ready = [(r, a) for r in range(p) for a in left[r]
                 if (a[0] == "F" and (r == 0 or ("F", r - 1, a[1]) in done)) or
                 (a[0] == "BW" and ("F", r, a[1]) in done and (r == p - 1 or ("BW", r + 1, a[1]) in done))]
        r, a = rng.choice(ready)
        left[r].remove(a)
        ranks[r].append(a)
        done.add((a[0], r, a[1]))
    return ranks


# costs with a decimal fraction, whose float sums round both ways (the hidden tests draw from these)
COSTS = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.1, 1.3, 2.0, 2.2)


def show(schedule):
    """One line per rank, e.g. 'rank 0: F0 F1 BW0 BW1' (for your own checks and the tests' messages)."""
    return "\n".join(f"rank {r}: " + " ".join(f"{k}{i}" for k, i in acts) for r, acts in enumerate(schedule))


print(show(gpipe(2, 3)))

# %% [markdown] id="md-1f1b"
# ## 1. The 1F1B schedule (3 points)
#
# GPipe keeps all `m` microbatches' activations alive until the backwards start. 1F1B (PipeDream-Flush)
# starts each backward as early as possible: rank `r` runs a **warm-up** of `p - r - 1` forwards,
# then a **steady state** that alternates one forward and one backward (`F` of the next microbatch,
# then `BW` of the oldest), and finally a **cool-down** with the backwards that are left.
# Microbatches go in order 0, 1, 2, ... for both kinds. 1F1B needs `m >= p`: raise `ValueError`
# saying so otherwise.
#
# For `p = 2, m = 3`, rank 0 runs `F0 F1 BW0 F2 BW1 BW2` and rank 1 runs `F0 BW0 F1 BW1 F2 BW2`.

# %% kind="solution" id="one_f_one_b"
def one_f_one_b(p, m):
    """1F1B: per rank, warm-up forwards, steady F/BW pairs, cool-down backwards."""
    ### BEGIN SOLUTION
    if m < p:
        raise ValueError(f"1F1B needs at least as many microbatches as stages: got m={m}, p={p}")
    schedule = []
    for rank in range(p):
        warmup = p - rank - 1
        actions = [("F", i) for i in range(warmup)]
        for i in range(m - warmup):
            actions.append(("F", warmup + i))
            actions.append(("BW", i))
        for i in range(m - warmup, m):
            actions.append(("BW", i))
        schedule.append(actions)
    return schedule
    ### END SOLUTION

# %% kind="test" id="test_one_f_one_b" points=3
_got = one_f_one_b(2, 3)
assert type(_got) is list, f"one_f_one_b(2, 3) should return a list with one list of actions per rank, got {_got!r}"
_want = [[("F", 0), ("F", 1), ("BW", 0), ("F", 2), ("BW", 1), ("BW", 2)],
         [("F", 0), ("BW", 0), ("F", 1), ("BW", 1), ("F", 2), ("BW", 2)]]
assert _got == _want, f"one_f_one_b(2, 3) is\n{show(_got)}\nexpected\n{show(_want)}"
try:
    one_f_one_b(4, 3)
    raise AssertionError("one_f_one_b(4, 3) returned: m < p must raise ValueError")
except ValueError:
    pass
### BEGIN HIDDEN TESTS
from mlsys_kit.pipeline import generators as _gen
from mlsys_kit.pipeline.validate import validate as _validate
from mlsys_kit.pipeline.schedule import Action as _A, Schedule as _S


def _ref_1f1b(p, m):
    return [[(a.kind, a.microbatch) for a in acts] for acts in _gen.one_f_one_b(p, m).ranks]


_rng = student_rng("sizes")
_cases = [(_p, _m) for _p in range(1, 9) for _m in range(_p, 3 * _p + 3)]
_cases += [(_p, _rng.randint(_p, 4 * _p + 9)) for _p in (_rng.randint(9, 16) for _ in range(4))]
same_as_reference(one_f_one_b, _ref_1f1b, _cases)
for _p, _m in _cases[::7]:
    _mine = one_f_one_b(_p, _m)
    _validate(_S([[_A(k, i, r) for k, i in acts] for r, acts in enumerate(_mine)], tuple(range(_p)), _m))
for _p in (1, 2, 5, _rng.randint(6, 16)):  # m = p is allowed, m = p - 1 is not
    assert one_f_one_b(_p, _p) == _ref_1f1b(_p, _p), _p
    if _p > 1:
        try:
            one_f_one_b(_p, _p - 1)
            raise AssertionError(f"one_f_one_b({_p}, {_p - 1}) must raise ValueError")
        except ValueError:
            pass
### END HIDDEN TESTS

# %% [markdown] id="md-simulate"
# ## 2. The event simulator (3 points)
#
# Each rank runs its list **in order**; an action starts when its rank is free *and* its inputs
# are there:
#
# * `F` of microbatch `i` on stage `r > 0` needs `F` of `i` on stage `r - 1` (that is another rank:
#   the activation arrives `latency` after that forward ends);
# * `BW` of `i` on stage `r` needs `F` of `i` on the same stage (same rank: no latency) and, unless
#   `r` is the last stage, `BW` of `i` on stage `r + 1` (another rank: `+ latency`).
#
# `F` takes `t_f`; `BW`, the backward for the stage's inputs (`t_b`) and for its weights (`t_w`)
# fused, takes `t_b + t_w` (Zero Bubble's B and W; `t_w` may be 0). Return
# `{"events": events, "makespan": makespan}` where `events[r]` lists rank `r`'s actions in the order
# they ran as `(kind, microbatch, start, end)` and `makespan` is when the last action of any rank
# ends. A rank cannot skip ahead in its list; if no rank can make progress while actions remain,
# the schedule deadlocks: raise `ValueError`. Leave `schedule` as it is (the caller may simulate it
# again with other costs).
#
# Hint: sweep over the ranks repeatedly, advancing each as far as its inputs allow.

# %% kind="solution" id="simulate"
def simulate(schedule, t_f=1.0, t_b=1.0, t_w=1.0, latency=0.0):
    """Start and end of every action of ``schedule`` (stage r on rank r), and the makespan."""
    ### BEGIN SOLUTION
    p = len(schedule)
    end = {}  # (kind, stage, microbatch) -> end time
    clock = [0.0] * p
    pos = [0] * p
    events = [[] for _ in range(p)]
    left = sum(len(acts) for acts in schedule)
    while left:
        progress = False
        for r in range(p):
            while pos[r] < len(schedule[r]):
                kind, i = schedule[r][pos[r]]
                if kind == "F":
                    deps = [("F", r - 1, i, latency)] if r > 0 else []
                    cost = t_f
                else:
                    deps = [("F", r, i, 0.0)]
                    if r < p - 1:
                        deps.append(("BW", r + 1, i, latency))
                    cost = t_b + t_w
                if any((k, s, j) not in end for k, s, j, _ in deps):
                    break
                start = max([clock[r]] + [end[(k, s, j)] + lat for k, s, j, lat in deps])
                end[(kind, r, i)] = start + cost
                events[r].append((kind, i, start, start + cost))
                clock[r] = start + cost
                pos[r] += 1
                left -= 1
                progress = True
        if not progress:
            raise ValueError("deadlock: no rank can run its next action")
    return {"events": events, "makespan": max(clock)}
    ### END SOLUTION

# %% kind="test" id="test_simulate" points=3
_res = simulate(gpipe(2, 2), t_f=1.0, t_b=1.0, t_w=1.0)
assert type(_res) is dict and set(_res) >= {"events", "makespan"}, \
    f"simulate should return a dict with 'events' and 'makespan', got {_res!r}"
assert _res["makespan"] == 9.0, (f"GPipe p=2, m=2, t_f=1, t_b + t_w = 2: makespan {_res['makespan']!r}, expected 9.0 "
                                 f"(events {_res['events']!r})")
assert _res["events"][1][0] == ("F", 0, 1.0, 2.0), \
    f"GPipe p=2, m=2: rank 1's first event is {_res['events'][1][0]!r}, expected ('F', 0, 1.0, 2.0): F0 waits for rank 0"
_got = simulate([[("F", 0), ("BW", 0)]], t_f=1.0, t_b=1.0, t_w=0.5)["makespan"]
assert _got == 2.5, f"one rank, F0 then BW0 with t_f=1, t_b=1, t_w=0.5: makespan {_got!r}, expected 1 + (1 + 0.5) = 2.5"
_got = simulate(gpipe(2, 1), t_f=1.0, t_b=1.0, t_w=1.0, latency=0.5)["events"][1][0]
assert _got == ("F", 0, 1.5, 2.5), f"GPipe p=2, m=1, latency 0.5: rank 1 runs {_got!r}, expected ('F', 0, 1.5, 2.5)"
try:
    simulate([[("F", 0), ("BW", 0), ("F", 1), ("BW", 1)], [("F", 0), ("F", 1), ("BW", 0), ("BW", 1)]])
    raise AssertionError("this schedule deadlocks (rank 0 waits for BW0 of rank 1, which waits for F1 of rank 0): "
                         "simulate must raise ValueError")
except ValueError:
    pass
### BEGIN HIDDEN TESTS
from mlsys_kit.pipeline import generators as _gen
from mlsys_kit.pipeline.schedule import Action as _A, Schedule as _S
from mlsys_kit.pipeline.simulate import simulate as _refsim


def _ref_1f1b(p, m):
    return [[(a.kind, a.microbatch) for a in acts] for acts in _gen.one_f_one_b(p, m).ranks]


def _ref_simulate(schedule, t_f=1.0, t_b=1.0, t_w=1.0, latency=0.0):
    p = len(schedule)
    sched = _S([[_A(k, i, r) for k, i in acts] for r, acts in enumerate(schedule)], tuple(range(p)),
               1 + max(i for acts in schedule for _, i in acts))
    res = _refsim(sched, t_f, t_b, t_w, latency, check=False)
    return {"events": [[(e.action.kind, e.action.microbatch, e.start, e.end) for e in res.events if e.rank == r]
                       for r in range(p)], "makespan": res.makespan}


_rng = student_rng("simulate")
_cases = []
for _trial in range(40):
    _p, _m = _rng.randint(1, 6), _rng.randint(1, 10)
    _kind = _rng.choice(["gpipe", "1f1b", "random", "random"]) if _m >= _p else _rng.choice(["gpipe", "random"])
    _sched = (random_schedule(_rng, _p, _m) if _kind == "random" else
              [[(a.kind, a.microbatch) for a in acts] for acts in _gen.make_schedule(_kind, _p, _m).ranks])
    _costs = [_rng.choice(COSTS), _rng.choice(COSTS), _rng.choice((0.0,) + COSTS), _rng.choice([0.0, 0.0, 0.3, 1.0])]
    _cases.append((_sched, *_costs) if _trial % 3 else ((_sched,), dict(zip(("t_f", "t_b", "t_w", "latency"), _costs))))
# and the same schedules again with other costs (the visible test ran GPipe p=2, m=2 at 1, 1, 1)
_cases += [(gpipe(3, 2),), (gpipe(2, 3), 2.0), (_ref_1f1b(3, 4), 1.0, 2.0, 0.0, 0.5), (_ref_1f1b(3, 4), 0.5),
           (gpipe(2, 2), 0.5, 0.7, 0.2, 0.1)]
same_as_reference(simulate, _ref_simulate, _cases, rel=1e-9, abs_tol=1e-9)
# schedules that deadlock, some only after every rank has made progress: the simulator must say so
for _trial in range(8):
    _p, _m = _rng.randint(2, 5), _rng.randint(2, 6)
    _sched = random_schedule(_rng, _p, _m)
    _r = _rng.randrange(_p)
    _i, _j = sorted(_rng.sample(range(2 * _m), 2))
    _sched[_r][_i], _sched[_r][_j] = _sched[_r][_j], _sched[_r][_i]
    try:
        _want = _ref_simulate(_sched, 1.0, 1.0, 1.0, 0.0)
    except ValueError:
        _want = None
    try:
        _got = simulate(_sched, 1.0, 1.0, 1.0, 0.0)
    except ValueError:
        _got = None
    assert (_got is None) == (_want is None), (f"on {_sched}: " + ("the schedule deadlocks: raise ValueError"
                                                                  if _want is None else "raised ValueError, but it runs"))
### END HIDDEN TESTS

# %% [markdown] id="md-metrics"
# ## 3. Bubble and memory (2 points)
#
# * `bubble_fraction(result)`: for each rank, `busy` is the sum of its action durations and `idle`
#   is the rest of the **whole step** `[0, makespan]`; return the mean over ranks of `idle / busy`
#   (Megatron-LM's definition: `(p-1)/m` for GPipe and 1F1B when all stages cost the same).
# * `peak_activations(result)`: per rank, the largest number (an `int`) of microbatches whose
#   activations are held at once: a microbatch's activations are held from the **start** of its `F`
#   to the **end** of its `BW` (when one ends exactly as another starts, count the end first).
#
# Both only read `result` (a dict as `simulate` returns it): leave it as it is.

# %% kind="solution" id="metrics"
def bubble_fraction(result):
    """Mean over ranks of idle / busy, idle counted over the whole step [0, makespan]."""
    ### BEGIN SOLUTION
    fractions = []
    for evs in result["events"]:
        busy = sum(e - s for _, _, s, e in evs)
        idle = result["makespan"] - busy
        fractions.append(idle / busy)
    return sum(fractions) / len(fractions)
    ### END SOLUTION


def peak_activations(result):
    """Per rank, the most microbatches held at once (from the start of F to the end of BW)."""
    ### BEGIN SOLUTION
    peaks = []
    for evs in result["events"]:
        deltas = [(s, 1) if k == "F" else (e, -1) for k, _, s, e in evs]
        level = peak = 0
        for _, d in sorted(deltas):
            level += d
            peak = max(peak, level)
        peaks.append(peak)
    return peaks
    ### END SOLUTION

# %% kind="test" id="test_metrics" points=2
# two ranks of GPipe with p=2, m=2, t_f=1, t_b + t_w = 2, written out by hand
_res = {"makespan": 9.0, "events": [
    [("F", 0, 0.0, 1.0), ("F", 1, 1.0, 2.0), ("BW", 0, 5.0, 7.0), ("BW", 1, 7.0, 9.0)],
    [("F", 0, 1.0, 2.0), ("F", 1, 2.0, 3.0), ("BW", 0, 3.0, 5.0), ("BW", 1, 5.0, 7.0)]]}
_got = bubble_fraction(_res)
assert type(_got) is float, f"bubble_fraction should return a float, got {_got!r}"
assert abs(_got - 0.5) < 1e-12, (f"bubble_fraction = {_got!r} on GPipe p=2, m=2, expected 0.5: each rank is busy 6 "
                                 "of the 9 time units, idle 3, and 3 / 6 = 0.5")
_got = peak_activations(_res)
assert _got == [2, 2], f"peak_activations = {_got!r} on GPipe p=2, m=2, expected [2, 2]: both F's before any BW"
### BEGIN HIDDEN TESTS
from mlsys_kit.pipeline import generators as _gen
from mlsys_kit.pipeline.schedule import Action as _A, Schedule as _S
from mlsys_kit.pipeline.simulate import simulate as _refsim


def _run(schedule, t_f, t_b, t_w, latency):
    """The reference's run of ``schedule`` as the lab's dict, and the reference's metrics of it."""
    p = len(schedule)
    res = _refsim(_S([[_A(k, i, r) for k, i in acts] for r, acts in enumerate(schedule)], tuple(range(p)),
                     len(schedule[0]) // 2), t_f, t_b, t_w, latency)
    given = {"makespan": res.makespan, "events": [[(e.action.kind, e.action.microbatch, e.start, e.end)
                                                   for e in res.events if e.rank == r] for r in range(p)]}
    return given, res.bubble_fraction, [int(x) for x in res.peak_activations]


_rng = student_rng("metrics")
_cases, _want = [], {}
for _trial in range(50):
    _p, _m = _rng.randint(1, 7), _rng.randint(1, 12)
    _kind = _rng.choice(["gpipe", "1f1b", "random"]) if _m >= _p else _rng.choice(["gpipe", "random"])
    _sched = (random_schedule(_rng, _p, _m) if _kind == "random" else
              [[(a.kind, a.microbatch) for a in acts] for acts in _gen.make_schedule(_kind, _p, _m).ranks])
    # whole-number costs half the time: ends and starts meet exactly (the tie rule decides the peak)
    _costs = ((_rng.randint(1, 3), _rng.randint(1, 2), _rng.randint(0, 2), _rng.choice([0, 1])) if _trial % 2 else
              (_rng.choice(COSTS), _rng.choice(COSTS), _rng.choice(COSTS), _rng.choice([0.0, 0.3])))
    _given, _bubble, _peaks = _run(_sched, *[float(c) for c in _costs])
    _cases.append((_given,))
    _want[repr(_given)] = (_bubble, _peaks)
# both only read the result: the first cases also check it is unchanged afterwards (a slow check)
for _fn, _part in ((bubble_fraction, 0), (peak_activations, 1)):
    same_as_reference(_fn, lambda r, _i=_part: _want[repr(r)][_i], _cases[:8], rel=1e-9, abs_tol=1e-12)
    same_as_reference(_fn, lambda r, _i=_part: _want[repr(r)][_i], _cases[8:], rel=1e-9, abs_tol=1e-12, untouched=False)
# a rank that frees a microbatch before it holds its most (F0, BW0, then F1 and F2 held at once): a
# free must count exactly -1 and an end at time t comes before a start at t
_late = {"makespan": 6.0, "events": [[("F", 0, 0.0, 1.0), ("BW", 0, 1.0, 2.0), ("F", 1, 2.0, 3.0),
                                      ("F", 2, 3.0, 4.0), ("BW", 1, 4.0, 5.0), ("BW", 2, 5.0, 6.0)]]}
same_as_reference(peak_activations, lambda r: [2], [(_late,)])
### END HIDDEN TESTS

# %% [markdown] id="md-choice"
# ## 4. Design question: which schedule, and how many microbatches? (4 points)
#
# Each rank can hold the activations of at most `cap` microbatches. Among GPipe and 1F1B and the
# microbatch counts `ms` you may split the batch into (a list in any order: leave it as it is),
# return the `(name, m)` (`name` is `"gpipe"` or `"1f1b"`) with the **smallest bubble fraction**
# whose peak activations fit under `cap` on every rank, simulated with `t_f`, `t_b`, `t_w` (no
# latency). Compare bubble fractions rounded to 9 decimals (the two schedules have the same bubble at
# the same `m` in exact arithmetic, but their float sums may differ in the last bits); on a tie prefer
# the smaller `m`, then `"1f1b"`. Return `None` if nothing fits. (1F1B cannot take `m < p`.)
# (2 points, autograded.)
#
# Then answer in the cell at the end of this section, in a few sentences (2 points, graded by hand):
# **with `p = 4` and room for 8 microbatches, why does 1F1B let you use `m = 32` when GPipe cannot,
# and what does that buy (give the two bubble fractions)?**

# %% kind="solution" id="choose"
def best_under_cap(p, cap, ms, t_f=1.0, t_b=1.0, t_w=1.0):
    """The (schedule, m) with the smallest bubble whose activations fit in ``cap`` microbatches."""
    ### BEGIN SOLUTION
    best = None
    for m in sorted(ms):
        for name, make in (("1f1b", one_f_one_b), ("gpipe", gpipe)):
            if name == "1f1b" and m < p:
                continue
            result = simulate(make(p, m), t_f, t_b, t_w)
            if max(peak_activations(result)) > cap:
                continue
            key = (round(bubble_fraction(result), 9), m, name)
            if best is None or key < best[0]:
                best = (key, (name, m))
    return None if best is None else best[1]
    ### END SOLUTION

# %% kind="test" id="test_choose" points=2
_got = best_under_cap(4, 8, [4, 8, 16, 32])
assert type(_got) is tuple and len(_got) == 2, f"best_under_cap should return a (name, m) tuple, or None: got {_got!r}"
assert type(_got[0]) is str and type(_got[1]) is int, f"name is a str and m an int: got {_got!r}"
assert _got == ("1f1b", 32), (f"best_under_cap(4, 8, [4, 8, 16, 32]) = {_got!r}, expected ('1f1b', 32): 1F1B holds at "
                              "most p = 4 microbatches, and its bubble (p - 1) / m is smallest at m = 32")
### BEGIN HIDDEN TESTS
from mlsys_kit.pipeline import generators as _gen
from mlsys_kit.pipeline.simulate import simulate as _refsim


def _ref_choice(p, cap, ms, t_f=1.0, t_b=1.0, t_w=1.0):
    best = None
    for m in sorted(ms):
        for name in ("1f1b", "gpipe"):
            if name == "1f1b" and m < p:
                continue
            r = _refsim(_gen.make_schedule(name, p, m), t_f, t_b, t_w, 0.0)
            if max(r.peak_activations) > cap:
                continue
            key = (round(r.bubble_fraction, 9), m, name)
            if best is None or key < best[0]:
                best = (key, (name, m))
    return None if best is None else best[1]


# fixed cases: GPipe only (1F1B cannot take m < p), nothing fits, and float ties: at p=2, m=2 with these
# costs 1F1B's bubble comes out 2e-16 above GPipe's (both are 0.5): rounded, they tie and 1F1B wins
_cases = [(4, 3, [2, 4, 8]), (4, 1, [2, 4]), (2, 10, [2], 0.1, 0.1, 0.3), (2, 10, [2, 5], 0.1, 0.2, 1.0),
          (1, 5, [7, 3, 5], 0.1, 0.2, 0.3), (3, 3, [9, 3, 6]), ((4, 8, [32, 16, 8, 4]), {"t_w": 0.0})]
_rng = student_rng("choose")
for _trial in range(16):
    _p, _cap = _rng.randint(1, 6), _rng.randint(1, 10)
    _ms = _rng.sample(range(1, 17), _rng.randint(1, 4))
    _costs = [_rng.choice(COSTS), _rng.choice(COSTS), _rng.choice((0.0,) + COSTS)]
    _cases += [(_p, _cap, _ms, *_costs), (_p, _cap, sorted(_ms, reverse=True), *_costs)]  # the order of ms must not matter
same_as_reference(best_under_cap, _ref_choice, _cases)
### END HIDDEN TESTS

# %% [markdown] kind="answer" id="q_choose_why" points=2
# GPipe runs all `m` forwards before the first backward, so every rank holds the activations of
# all `m` microbatches at its peak: with room for 8, GPipe can use at most `m = 8`. 1F1B starts a
# backward as soon as the last stage can, so rank `r` never holds more than `p - r` microbatches
# (its warm-up of `p - r - 1` plus the one in flight), at most `p = 4` whatever `m` is: `m = 32`
# fits in the same memory. That buys a smaller bubble, `(p - 1) / m`: 3/8 = 0.375 for GPipe at
# `m = 8` against 3/32 ≈ 0.094 for 1F1B at `m = 32`, so the ranks idle about 4x less for the same
# batch (the two schedules have the same bubble at the same `m`: 1F1B wins by being allowed a
# larger `m`). The price: smaller microbatches (less efficient kernels) and more messages between
# stages.

# %% [markdown] kind="rubric" id="q_choose_why_rubric"
# Rubric (2 points):
#
# * 1 point: memory. GPipe's peak activations grow with `m` (all forwards before any backward:
#   `m` held at once), 1F1B's are bounded by `p` (rank `r` holds at most `p - r`), independent of
#   `m`; so under a cap of 8 GPipe is limited to `m <= 8` while 1F1B can take `m = 32`.
# * 1 point: what it buys, with numbers: the bubble `(p - 1) / m` falls from 3/8 (GPipe, `m = 8`)
#   to 3/32 (1F1B, `m = 32`): less idle time, a shorter step for the same batch. Half a point
#   without the numbers, or without saying the bubble is the same for both at equal `m`.
# * Typical wrong answer: "1F1B has a smaller bubble than GPipe" (not at the same `m`: the gain
#   comes only from the larger `m` its memory allows), or "1F1B does less work" (same F and BW count).
