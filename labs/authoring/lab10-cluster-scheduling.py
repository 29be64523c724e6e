# lab10-cluster-scheduling: the source of labs/source/lab10-cluster-scheduling/lab10-cluster-scheduling.ipynb (jupytext percent format).
# Build the notebook with `mlsys-grade build lab10-cluster-scheduling`; docs/labs.md says how a lab is written.
# mlsys_grade: {"reference": ["mlsys_kit.cluster.policies", "mlsys_kit.cluster.gavel", "mlsys_kit.cluster.pollux"]}

# %% [markdown] id="intro"
# # Lab 10: scheduling a GPU cluster
#
# A shared GPU cluster runs hundreds of training jobs; the scheduler decides which run, on which
# GPUs and (for Pollux) at which batch size. Three schedulers, three ideas:
#
# 1. **Tiresias** (Gu et al., NSDI'19, sections 3-4): nobody knows how long a job will run, so
#    prioritise the jobs that have received the *least service* so far, counted in GPU-seconds
#    (two dimensions: GPUs x time), in a few discrete queues, FIFO inside a queue, with a
#    promotion that stops starvation;
# 2. **Gavel** (Narayanan et al., OSDI'20, sections 3-4): GPUs of different types (V100, K80)
#    speed jobs up by different factors, so allocate *time fractions* on each type with a
#    linear program over **effective throughput**;
# 3. **Pollux** (Qiao et al., OSDI'21, section 3): a job's useful progress is its **goodput** =
#    throughput x statistical efficiency; the batch size that maximises it depends on the GPUs it
#    gets.
#
# The reference is `mlsys-kit cluster simulate --policy {tiresias,gavel,pollux}` (`mlsys_kit.cluster`);
# the functions you write carry its names.
#
# Fill in every cell that says `YOUR CODE HERE` (delete the `raise NotImplementedError()`), then run
# the test cell below it. The visible tests are a start; hidden tests check many more cases.
# Total: 22 points (20 autograded, 2 graded by hand).

# %% kind="locked" id="setup"
import math

import numpy as np
from scipy.optimize import linprog


def equal_share(T, scale, capacity):
    """Gavel's X_equal (section 4.1): every job gets the same share of the whole cluster, split
    over the types it can run on (throughput > 0 and enough GPUs for its gang) in proportion to
    their GPU counts, scaled down if a type is over-subscribed. A list of lists (jobs x types)."""
    n, k = len(T), len(capacity)
    share = min(1.0, sum(capacity) / sum(scale))
    X = []
    for m in range(n):
        usable = [capacity[j] if T[m][j] > 0 and scale[m] <= capacity[j] else 0 for j in range(k)]
        total = sum(usable)
        X.append([share * u / total if total else 0.0 for u in usable])
    used = [sum(X[m][j] * scale[m] for m in range(n)) for j in range(k)]
    over = max([1.0] + [used[j] / capacity[j] for j in range(k) if capacity[j] > 0 and used[j] > capacity[j]])
    return [[x / over for x in row] for row in X]


def worst_normalized(T, scale, capacity, X):
    """min over jobs of throughput(m, X) / throughput(m, X_equal): the max-min objective of X."""
    eq = equal_share(T, scale, capacity)
    return min(sum(t * x for t, x in zip(T[m], X[m])) / sum(t * x for t, x in zip(T[m], eq[m])) for m in range(len(T)))


def iteration_time(p, gpus, nodes, local_bsz, accum_steps=0):
    """Pollux's T_iter (section 3.2): accum_steps * T_grad + (T_grad^gamma + T_sync^gamma)^(1/gamma),
    T_grad = alpha_grad + beta_grad * local_bsz; T_sync = 0 on one GPU, alpha_local + beta_local *
    (gpus - 2) on one node, alpha_node + beta_node * (gpus - 2) across nodes."""
    t_grad = p["alpha_grad"] + p["beta_grad"] * local_bsz
    if gpus == 1:
        t_sync = 0.0
    elif nodes == 1:
        t_sync = p["alpha_local"] + p["beta_local"] * (gpus - 2)
    else:
        t_sync = p["alpha_node"] + p["beta_node"] * (gpus - 2)
    g = p["gamma"]
    return float(accum_steps * t_grad + (t_grad ** g + t_sync ** g) ** (1.0 / g))


# One job's Pollux parameters (seconds; phi is the gradient noise scale, m0 the initial batch size).
JOB = {"alpha_grad": 0.01, "beta_grad": 0.002, "alpha_local": 0.02, "beta_local": 0.001, "alpha_node": 0.05,
       "beta_node": 0.004, "gamma": 1.5, "phi": 500.0, "m0": 32, "max_local": 64, "max_batch": 2048}

# Two workloads on 2 V100 + 2 K80 (Gavel's figure 1 in miniature): columns are (v100, k80).
SAME = [[3.0, 1.0], [3.0, 1.0], [3.0, 1.0], [3.0, 1.0]]  # every job 3x faster on a V100
# 10x and 4x faster on a V100, one that barely cares (1.2x), and one that runs 1.5x faster on the
# K80 machines (in this example: bound by their hosts' faster input pipeline, not by the GPU)
MIXED = [[10.0, 1.0], [1.2, 1.0], [4.0, 1.0], [1.0, 1.5]]
SCALE, CAPACITY = [1, 1, 1, 1], [2, 2]  # one GPU per job; 2 V100 and 2 K80

# %% [markdown] id="md-las"
# ## 1. Tiresias' 2D-LAS (7 points)
#
# A job's **attained service** is the GPU-seconds it has run (4 GPUs for 100 s: 400). With
# thresholds `Q1 < Q2 < ...` (GPU-seconds), `las_queue(attained, thresholds)` is the job's queue:
# 0 (highest priority) below `Q1`, `i` once `attained >= Qi` (reaching a threshold demotes).
# Raise `ValueError` if `attained < 0` or the thresholds are not strictly increasing; an empty
# list is one queue. (2 points)
#
# **Starvation prevention:** `effective_queue(attained, gpus, waiting, thresholds, promote_knob)`
# is the job's queue, except that a job which has waited `waiting` seconds, at least
# `promote_knob` times as long as it has run (`attained / gpus` seconds), goes back to queue 0.
# (2 points)
#
# `order(jobs, thresholds)`: the job ids in scheduling order. `jobs` is a list of dicts with `id`,
# `attained`, `arrival`, and optionally `queue` (a queue already decided, e.g. after promotion, which
# then wins over `attained`). Lower queue first; **FIFO within a queue** (earlier `arrival` first,
# then lower `id`). Leave `jobs` as it was. (3 points)

# %% kind="solution" id="las"
def las_queue(attained: float, thresholds: list) -> int:
    ### BEGIN SOLUTION
    if attained < 0:
        raise ValueError(f"attained service must be >= 0 GPU-seconds: got {attained}")
    for a, b in zip(thresholds, thresholds[1:]):
        if a >= b:
            raise ValueError(f"thresholds must be strictly increasing: got {thresholds}")
    q = 0
    for t in thresholds:
        if attained >= t:
            q += 1
    return q
    ### END SOLUTION


def effective_queue(attained: float, gpus: int, waiting: float, thresholds: list, promote_knob: float) -> int:
    ### BEGIN SOLUTION
    q = las_queue(attained, thresholds)
    if waiting >= promote_knob * attained / gpus:
        return 0
    return q
    ### END SOLUTION


def order(jobs: list, thresholds: list) -> list:
    ### BEGIN SOLUTION
    keyed = []
    for j in jobs:
        q = j["queue"] if "queue" in j else las_queue(j["attained"], thresholds)
        keyed.append((q, j["arrival"], j["id"]))
    return [i for _, _, i in sorted(keyed)]
    ### END SOLUTION

# %% kind="test" id="test_las_queue" points=2
_q = las_queue(5000.0, [3600.0])
assert type(_q) is int, f"las_queue(5000.0, [3600.0]): return an int, got a {type(_q).__name__} ({_q!r})"
assert _q == 1, f"las_queue(5000.0, [3600.0]) is {_q}, expected 1 (past the one-GPU-hour threshold)"
assert las_queue(10.0, [3600.0]) == 0, "10 GPU-seconds is below the first threshold: queue 0"
### BEGIN HIDDEN TESTS
from mlsys_kit.cluster.policies import las_queue as _ref_q

assert las_queue(3600.0, [3600.0]) == 1, "reaching a threshold demotes: 3600 >= 3600"
assert las_queue(3599.5, [3600.0, 7200.0]) == 0 and las_queue(7200.0, [3600.0, 7200.0]) == 2
assert las_queue(0.0, []) == 0 and las_queue(1e9, []) == 0, "no thresholds: one queue"
_rng = student_rng("q")
_cases = [(0.0, [1.0]), (1.0, [1.0]), (2.0, [1.0, 2.0, 3.0]), (2.5, [1.0, 2.0, 3.0]), (3.0, [1.0, 2.0, 3.0]),
          (2.0, [5.0]), (2.0, []), (1.0, [0.5, 0.75])]  # the same service under other thresholds: its own answer
for _ in range(30):
    _th = sorted(_rng.sample(range(1, 20_000), _rng.randint(0, 5)))
    _a = _rng.choice([float(_rng.choice(_th)) if _th else 0.0, _rng.uniform(0, 25_000), 0.0])
    _cases.append((_a, [float(t) for t in _th]))
same_as_reference(las_queue, _ref_q, _cases)
for _bad in ((-1.0, [10.0]), (5.0, [10.0, 10.0]), (5.0, [20.0, 10.0]), (5.0, [1.0, 3.0, 2.0]), (5.0, [3.0, 2.0, 4.0])):
    try:
        las_queue(*_bad)
        raise AssertionError(f"las_queue{_bad} must raise ValueError (negative service or thresholds not increasing)")
    except ValueError:
        pass
### END HIDDEN TESTS

# %% kind="test" id="test_effective_queue" points=2
_q = effective_queue(8000.0, 4, 10.0, [3600.0], 8.0)
assert type(_q) is int and _q == 1, f"effective_queue(8000.0, 4 GPUs, waited 10 s, [3600.0], 8.0) is {_q!r}, expected 1"
_q = effective_queue(8000.0, 4, 16000.0, [3600.0], 8.0)
assert _q == 0, f"ran 2000 s, waited 16000 s >= 8 x 2000 s: promoted to queue 0, got {_q!r}"
### BEGIN HIDDEN TESTS
from mlsys_kit.cluster.policies import effective_queue as _ref_eq

assert effective_queue(200.0, 4, 100.0, [100.0], 2.0) == 0, "waiting exactly promote_knob x run time promotes"
assert effective_queue(200.0, 4, 99.0, [100.0], 2.0) == 1
assert effective_queue(3.0, 2, 1.2, [1.0], 1.0) == 1, "ran 3 GPU-s on 2 GPUs = 1.5 s; 1.2 s of waiting is not enough"
_rng = student_rng("eq")
_cases = [(200.0, 4, 100.0, [100.0], 2.0), (200.0, 2, 100.0, [100.0], 2.0), (0.0, 1, 0.0, [5.0], 3.0),
          (7200.0, 1, 3600.0, [3600.0], 0.5), (7200.0, 8, 1799.0, [10.0, 3600.0], 2.0)]
for _ in range(30):
    _g = _rng.choice([1, 2, 4, 8, 16])
    _a = float(_rng.randint(0, 40_000))
    _k = _rng.choice([0.5, 1.0, 2.0, 4.0, 8.0])
    _w = _rng.choice([_k * _a / _g, _rng.uniform(0, 80_000), 0.0])
    _cases.append((_a, _g, _w, sorted(float(t) for t in _rng.sample(range(1, 20_000), _rng.randint(0, 3))), _k))
same_as_reference(effective_queue, _ref_eq, _cases)
try:
    effective_queue(-5.0, 1, 1e9, [10.0], 1.0)
    raise AssertionError("effective_queue with attained < 0 must raise ValueError, promoted or not")
except ValueError:
    pass
### END HIDDEN TESTS

# %% kind="test" id="test_order" points=3
_jobs = [{"id": 0, "attained": 9000.0, "arrival": 0.0}, {"id": 1, "attained": 10.0, "arrival": 50.0},
         {"id": 2, "attained": 0.0, "arrival": 60.0}]
_o = order(_jobs, [3600.0])
assert type(_o) is list and _o == [1, 2, 0], f"order(...) is {_o!r}, expected [1, 2, 0] (queue 0 FIFO, then queue 1)"
### BEGIN HIDDEN TESTS
from mlsys_kit.cluster.policies import order as _ref_order

_rng = student_rng("order")
_cases = [([], [1.0]), ([{"id": 3, "attained": 0.0, "arrival": 1.0}, {"id": 1, "attained": 0.0, "arrival": 1.0}], [5.0]),
          ([{"id": 0, "attained": 50.0, "arrival": 0.0}, {"id": 1, "attained": 5.0, "arrival": 9.0, "queue": 2}], [10.0]),
          ([{"id": 0, "attained": 500.0, "arrival": 0.0, "queue": 0}, {"id": 1, "attained": 5.0, "arrival": 9.0}], [10.0]),
          ([{"id": 4, "attained": 9.0, "arrival": 2.0}, {"id": 2, "attained": 1.0, "arrival": 3.0}], [])]
for _ in range(25):
    _th = sorted(float(t) for t in _rng.sample(range(1, 10_000), _rng.randint(0, 3)))
    _ids = _rng.sample(range(100), _rng.randint(1, 12))
    _js = []
    for _i in _ids:
        _j = {"id": _i, "attained": float(_rng.choice([0, _rng.randint(0, 12_000)])), "arrival": float(_rng.randint(0, 5))}
        if _rng.random() < 0.25:
            _j["queue"] = _rng.randint(0, len(_th))
        _js.append(_j)
    _cases.append((_js, _th))
    _cases.append(([dict(_j) for _j in _js], [1e9]))  # the same jobs under other thresholds: their own order
same_as_reference(order, _ref_order, _cases)
### END HIDDEN TESTS

# %% [markdown] id="md-gavel"
# ## 2. Gavel's heterogeneity-aware max-min fairness (6 points)
#
# `T[m][j]` is job `m`'s throughput on GPU type `j` (0: it cannot run there), `scale[m]` the GPUs
# its gang needs, `capacity[j]` the GPUs of type `j`. An allocation `X[m][j]` is the fraction of
# time job `m` spends on type `j`. `effective_throughput(T, X)`: the list of
# `sum_j T[m][j] * X[m][j]`, one float per job (section 3.1). (1 point)
#
# `max_min_allocation(T, scale, capacity)`: the `X` (a list of lists of floats, jobs x types) that
# **maximises the smallest normalised effective throughput**, `min_m effective_throughput(m, X) /
# effective_throughput(m, X_equal)` with `X_equal = equal_share(T, scale, capacity)` (given), subject to
# `0 <= X[m][j] <= 1`; `sum_j X[m][j] <= 1` for each job; `sum_m X[m][j] * scale[m] <= capacity[j]`
# for each type; and `X[m][j] = 0` where `T[m][j] == 0` or `scale[m] > capacity[j]` (a gang never runs
# on fewer GPUs than it needs). Write it as a linear program with one extra variable `t` (maximise
# `t` subject to `t <= normalised throughput of m` for every `m`) and solve it with
# `scipy.optimize.linprog(..., method="highs")` (imported in the setup cell). Any optimal `X` earns
# the points: the tests check the constraints and the objective's value. Leave the arguments as
# they were. (5 points)

# %% kind="solution" id="gavel"
def effective_throughput(T: list, X: list) -> list:
    ### BEGIN SOLUTION
    return [float(sum(t * x for t, x in zip(T[m], X[m]))) for m in range(len(T))]
    ### END SOLUTION


def max_min_allocation(T: list, scale: list, capacity: list) -> list:
    ### BEGIN SOLUTION
    n, k = len(T), len(capacity)
    norm = effective_throughput(T, equal_share(T, scale, capacity))
    A = np.zeros((2 * n + k, n * k + 1))
    b = np.zeros(2 * n + k)
    for m in range(n):
        for j in range(k):
            A[m, m * k + j] = -T[m][j] / norm[m]  # t - throughput(m, X) / norm_m <= 0
            A[n + m, m * k + j] = 1.0  # sum_j X[m][j] <= 1
            A[2 * n + j, m * k + j] = scale[m]  # sum_m X[m][j] * scale[m] <= capacity[j]
        A[m, n * k] = 1.0
        b[n + m] = 1.0
    for j in range(k):
        b[2 * n + j] = capacity[j]
    bounds = [(0.0, float(T[m][j] > 0 and scale[m] <= capacity[j])) for m in range(n) for j in range(k)]
    c = np.zeros(n * k + 1)
    c[n * k] = -1.0
    res = linprog(c, A_ub=A, b_ub=b, bounds=bounds + [(0.0, None)], method="highs")
    return [[float(res.x[m * k + j]) for j in range(k)] for m in range(n)]
    ### END SOLUTION

# %% kind="test" id="test_effective_throughput" points=1
_e = effective_throughput([[4.0, 1.0], [2.0, 0.0]], [[0.5, 0.5], [1.0, 0.0]])
assert type(_e) is list and all(type(v) is float for v in _e), f"return a list of floats, got {_e!r}"
assert _e == [2.5, 2.0], f"effective_throughput is {_e}, expected [4 x 0.5 + 1 x 0.5, 2 x 1] = [2.5, 2.0]"
### BEGIN HIDDEN TESTS
from mlsys_kit.cluster.gavel import effective_throughput as _ref_eff

_rng = student_rng("eff")
_cases = [([[1.0]], [[0.0]]), ([[3, 1]], [[0.25, 0.75]]), ([[2, 3], [1, 5]], [[1, 0], [0, 1]]),  # ints in, floats out
          ([[1.0, 2.0]], [[1.0, 0.0]]), ([[1.0, 2.0]], [[0.0, 1.0]])]  # the same T, another X
for _ in range(20):
    _n, _k = _rng.randint(1, 6), _rng.randint(1, 4)
    _cases.append(([[_rng.choice([0.0, _rng.uniform(0.1, 10)]) for _ in range(_k)] for _ in range(_n)],
                   [[_rng.uniform(0, 1 / _k) for _ in range(_k)] for _ in range(_n)]))
same_as_reference(effective_throughput, _ref_eff, _cases, rel=1e-12)
### END HIDDEN TESTS

# %% kind="test" id="test_max_min" points=5
_T, _scale, _cap = [[4.0, 1.0], [2.0, 1.5], [1.0, 1.0]], [1, 1, 1], [1, 1]
_X = max_min_allocation(_T, _scale, _cap)
assert type(_X) is list and len(_X) == 3 and all(type(r) is list and len(r) == 2 for r in _X), \
    f"return a 3 x 2 list of lists, got {_X!r}"
assert all(type(x) is float for r in _X for x in r), "every X[m][j] is a float"
assert all(sum(r) <= 1 + 1e-7 for r in _X), f"a job's fractions sum to at most 1: {_X}"
assert worst_normalized(_T, _scale, _cap, _X) > 1.0, \
    "an equal split is not optimal here: job 0 gains 4x on the first type, job 2 nothing, so trading pays"
### BEGIN HIDDEN TESTS
from mlsys_kit.cluster import gavel as _gavel


def _check_lp(T, scale, cap):
    before = [list(r) for r in T], list(scale), list(cap)
    X = max_min_allocation(T, scale, cap)
    case = f"max_min_allocation({before[0]}, {before[1]}, {before[2]})"
    assert (T, scale, cap) == before, f"{case} changed its arguments"
    assert type(X) is list and len(X) == len(T), f"{case}: return one row per job, got {X!r}"
    for row in X:
        assert type(row) is list and len(row) == len(cap) and all(type(x) is float for x in row), \
            f"{case}: every row is a list of {len(cap)} floats, got {row!r}"
    _gavel.check_allocation(X, scale, cap, tol=1e-6)
    for m in range(len(T)):
        for j in range(len(cap)):
            if T[m][j] == 0 or scale[m] > cap[j]:
                assert abs(X[m][j]) <= 1e-7, f"{case}: job {m} cannot run on type {j}, yet X[{m}][{j}] = {X[m][j]}"
    assert np.allclose(_gavel.equal_share(T, scale, cap), equal_share(T, scale, cap), rtol=1e-12, atol=0)
    want = worst_normalized(T, scale, cap, _gavel.max_min_allocation(T, scale, cap))
    got = worst_normalized(T, scale, cap, X)
    assert math.isclose(got, want, rel_tol=1e-6), f"{case}: the worst normalised throughput is {got}, the optimum is {want}"


_check_lp(MIXED, [1, 1, 1, 1], [2, 2])
_check_lp(SAME, [1, 1, 1, 1], [2, 2])
_check_lp(MIXED, [1, 1, 1, 1], [3, 1])  # the same T on other clusters and gangs: each its own optimum
_check_lp(MIXED, [1, 2, 1, 1], [2, 4])
_check_lp([[1.0, 0.0], [1.0, 1.0]], [1, 1], [1, 1])  # job 0 only runs on type 0
_check_lp([[3.0, 1.0], [2.0, 2.0], [1.0, 5.0]], [2, 1, 1], [1, 4])  # job 0's gang does not fit type 0
_check_lp([[5.0, 2.0, 1.0], [1.0, 1.0, 1.0]], [2, 1], [2, 1, 8])
_check_lp([[2.0]], [1], [1])
_rng = student_rng("lp")
for _ in range(12):
    _n, _k = _rng.randint(1, 5), _rng.randint(1, 3)
    _cap = [_rng.randint(1, 4) for _ in range(_k)]
    _scale = [_rng.choice([1, 1, 2, 4]) for _ in range(_n)]
    _T = [[_rng.choice([0.0, round(_rng.uniform(0.2, 8), 2)]) for _ in range(_k)] for _ in range(_n)]
    for _m in range(_n):  # every job can run somewhere
        _j = _rng.randrange(_k)
        _T[_m][_j] = _T[_m][_j] or 1.0
        _scale[_m] = min(_scale[_m], _cap[_j])
    _check_lp(_T, _scale, _cap)
### END HIDDEN TESTS

# %% [markdown] id="md-pollux"
# ## 3. Pollux's goodput and the batch size that maximises it (6 points)
#
# Statistical efficiency (section 3.1): with the gradient noise scale `phi` and the initial batch
# size `m0`, a batch of `batch` examples is worth `efficiency(phi, m0, batch) = (phi + m0) / (phi +
# batch)` of as many examples at `m0`. `goodput(p, gpus, nodes, local_bsz, accum_steps=0)`: the
# examples per second (`batch / iteration_time(...)`, with `batch = gpus * local_bsz * (accum_steps +
# 1)`; `iteration_time` is given) times the efficiency of `batch`, with `phi` and `m0` from the job's
# dict `p` (like `JOB`). Both return floats. (3 points)
#
# `optimal_batch_size(p, gpus, nodes, max_accum=0)`: the goodput-optimal choice on this allocation,
# over every `local_bsz` in `1..p["max_local"]` and `accum_steps` in `0..max_accum` with `p["m0"] <=
# batch <= p["max_batch"]`. Return the tuple `(batch, local_bsz, accum_steps, goodput)` (three ints and
# a float). Ties in goodput: the fewer accumulation steps, then the smaller `local_bsz`. Raise `ValueError`
# if no choice is in range. Leave `p` as it was. (3 points)

# %% kind="solution" id="pollux"
def efficiency(phi: float, m0: int, batch: int) -> float:
    ### BEGIN SOLUTION
    return float((phi + m0) / (phi + batch))
    ### END SOLUTION


def goodput(p: dict, gpus: int, nodes: int, local_bsz: int, accum_steps: int = 0) -> float:
    ### BEGIN SOLUTION
    batch = gpus * local_bsz * (accum_steps + 1)
    return batch / iteration_time(p, gpus, nodes, local_bsz, accum_steps) * efficiency(p["phi"], p["m0"], batch)
    ### END SOLUTION


def optimal_batch_size(p: dict, gpus: int, nodes: int, max_accum: int = 0) -> tuple:
    ### BEGIN SOLUTION
    best = None
    for s in range(max_accum + 1):
        for m in range(1, p["max_local"] + 1):
            batch = gpus * m * (s + 1)
            if batch < p["m0"] or batch > p["max_batch"]:
                continue
            g = goodput(p, gpus, nodes, m, s)
            if best is None or g > best[3]:
                best = (batch, m, s, g)
    if best is None:
        raise ValueError(f"no batch size in [{p['m0']}, {p['max_batch']}] on {gpus} GPUs")
    return best
    ### END SOLUTION

# %% kind="test" id="test_goodput" points=3
_e = efficiency(100.0, 32, 64)
assert type(_e) is float and math.isclose(_e, 132 / 164), f"efficiency(100.0, 32, 64) is {_e!r}, expected 132/164"
_g = goodput(JOB, 1, 1, 32)
assert type(_g) is float, f"goodput(JOB, 1, 1, 32): return a float, got {type(_g).__name__}"
assert math.isclose(_g, 32 / iteration_time(JOB, 1, 1, 32)), f"goodput(JOB, 1, 1, 32) is {_g}: at m0 the efficiency is 1"
### BEGIN HIDDEN TESTS
from mlsys_kit.cluster import pollux as _pollux


def _pp(p):
    return _pollux.PolluxParams(**p)


_rng = student_rng("goodput")
same_as_reference(efficiency, _pollux.efficiency, [(0.0, 32, 64), (1e6, 1, 4096), (500.0, 8, 8)] +
                  [(_rng.uniform(0, 5000), _rng.randint(1, 256), _rng.randint(1, 4096)) for _ in range(20)])
_jobs = [JOB, dict(JOB, phi=0.0), dict(JOB, gamma=1.0, m0=8), dict(JOB, alpha_node=0.5, beta_node=0.0, phi=50.0, m0=100)]
_cases = []
for _ in range(25):
    _p = _rng.choice(_jobs)
    _gp = _rng.choice([1, 2, 4, 8, 16])
    _cases.append((_p, _gp, _rng.randint(1, -(-_gp // 4)), _rng.randint(1, 64), _rng.randint(0, 3)))
for _p, _gp, _nd, _m, _s in _cases:
    assert iteration_time(_p, _gp, _nd, _m, _s) == _pollux.iteration_time(_pp(_p), _gp, _nd, _m, _s)
same_as_reference(goodput, lambda p, *a: _pollux.goodput(_pp(p), *a), _cases, rel=1e-12)
same_as_reference(goodput, lambda p, *a: _pollux.goodput(_pp(p), *a), [(_p, _gp, _nd, _m) for _p, _gp, _nd, _m, _ in _cases[:5]],
                  rel=1e-12)
### END HIDDEN TESTS

# %% kind="test" id="test_optimal_batch" points=3
_r = optimal_batch_size(JOB, 1, 1)
assert type(_r) is tuple and len(_r) == 4, f"optimal_batch_size(JOB, 1, 1): return a 4-tuple, got {_r!r}"
assert [type(v) for v in _r] == [int, int, int, float], f"(batch, local_bsz, accum_steps, goodput): three ints and a float, got {_r!r}"
assert _r[0] == _r[1] and _r[2] == 0 and 32 <= _r[0] <= 64, f"one GPU, no accumulation: batch = local_bsz in [32, 64], got {_r!r}"
assert _r[3] >= max(goodput(JOB, 1, 1, m) for m in range(32, 65)), "some in-range local batch has a higher goodput"
### BEGIN HIDDEN TESTS
_rng = student_rng("optimal")
_cases = [(JOB, 1, 1), (JOB, 4, 1), (JOB, 8, 2), (JOB, 2, 1, 3), (dict(JOB, m0=1, phi=0.0), 1, 1),
          # alpha_grad 0, no overlap term: (m, s) = (2, 1) and (4, 0) give batch 4 at exactly the same goodput
          (dict(JOB, alpha_grad=0.0, beta_grad=0.125, gamma=1.0, m0=4, phi=1e6, max_local=4), 1, 1, 1),
          (dict(JOB, max_batch=64), 16, 2, 1), (dict(JOB, m0=200, max_local=8), 8, 1, 3),
          (dict(JOB, max_batch=40), 1, 1), (dict(JOB, phi=5000.0, max_local=8), 2, 1, 1)]  # the optimum at a limit
for _ in range(10):
    _p = dict(JOB, phi=_rng.choice([0.0, 50.0, 500.0, 5000.0]), m0=_rng.choice([1, 16, 32, 64]),
              max_local=_rng.choice([8, 16, 32]), gamma=_rng.choice([1.0, 1.5, 3.0]))
    _gp, _acc = _rng.choice([1, 2, 3, 4, 8]), _rng.randint(0, 3)
    if any(_p["m0"] <= _gp * _m * (_s + 1) <= _p["max_batch"] for _m in range(1, _p["max_local"] + 1) for _s in range(_acc + 1)):
        _cases.append((_p, _gp, _rng.randint(1, -(-_gp // 4)), _acc))
same_as_reference(optimal_batch_size, lambda p, *a, **kw: _pollux.optimal_batch_size(_pp(p), *a, **kw), _cases, rel=1e-12)
same_as_reference(optimal_batch_size, lambda p, *a, **kw: _pollux.optimal_batch_size(_pp(p), *a, **kw),
                  [((JOB, 4, 1), {"max_accum": 2})], rel=1e-12)
for _bad in ((dict(JOB, m0=512, max_local=8), 4, 1), (dict(JOB, m0=16, max_batch=16), 32, 4, 2)):
    try:
        optimal_batch_size(*_bad)
        raise AssertionError(f"optimal_batch_size on {_bad[1]} GPUs with m0={_bad[0]['m0']}, max_local={_bad[0]['max_local']}, "
                             f"max_batch={_bad[0]['max_batch']}: no batch is in range, raise ValueError")
    except ValueError:
        pass
### END HIDDEN TESTS

# %% [markdown] id="md-design"
# ## 4. Design question: when does heterogeneity-awareness pay? (3 points)
#
# The optimum of your LP, `worst_normalized(T, scale, capacity, X)` at your `X`, says how many times
# more effective throughput the worst-off job gets than under an equal split of every type, the
# time-sharing that a heterogeneity-agnostic scheduler, blind to the speed-ups, gives every job.
# Set `ANSWER_GAIN` to a dict `{"same": ..., "mixed": ...}` of that optimum (floats) for the workloads
# `SAME` and `MIXED` of the setup cell, each with `SCALE` and `CAPACITY` (one GPU per job, 2 GPUs of each
# type), computed with your functions. (1 point, autograded.)
#
# Then answer in the cell at the end of this section, in a few sentences (2 points, graded by hand):
# **when does heterogeneity-awareness pay, and why? When does it not?**

# %% kind="solution" id="answer_gain"
### BEGIN SOLUTION
ANSWER_GAIN = {name: worst_normalized(T, SCALE, CAPACITY, max_min_allocation(T, SCALE, CAPACITY))
               for name, T in (("same", SAME), ("mixed", MIXED))}
### END SOLUTION
print(ANSWER_GAIN)

# %% kind="test" id="test_answer_gain" points=1
try:
    _answer = ANSWER_GAIN
except NameError:
    raise AssertionError("ANSWER_GAIN is not set: run the cell above that sets it (with your functions) first") from None
assert type(_answer) is dict and set(_answer) == {"same", "mixed"}, f"ANSWER_GAIN is a dict with keys same and mixed, got {_answer!r}"
assert all(type(v) is float for v in _answer.values()), f"the gains are floats, got {_answer!r}"
### BEGIN HIDDEN TESTS
from mlsys_kit.cluster import gavel as _gavel

for _name, _T in (("same", SAME), ("mixed", MIXED)):
    _want = worst_normalized(_T, [1] * 4, [2, 2], _gavel.max_min_allocation(_T, [1] * 4, [2, 2]))  # SCALE, CAPACITY
    assert math.isclose(_answer[_name], _want, rel_tol=1e-6), f"ANSWER_GAIN[{_name!r}] is {_answer[_name]}, expected {_want}"
assert math.isclose(_answer["same"], 1.0, rel_tol=1e-6) and _answer["mixed"] > 1.05
### END HIDDEN TESTS

# %% [markdown] kind="answer" id="q_hetero_why" points=2
# It pays when jobs rank the GPU types differently, or gain from the fast type by very different
# factors, and there is a trade in which every job wins: in MIXED the K80-friendly job gives up its
# V100 time, which goes to the jobs that gain 4x and 10x there, and every job ends up above its
# equal split (the optimum is 1.072: the worst-off job gets 7 % more than an equal split, the others
# much more). It does not pay when every job ranks the types the same way by the same factor and
# the cluster is full (SAME): each job needs at least its equal share of V100 time to reach its
# equal-split throughput, the shares cannot all exceed it, so the optimum is exactly 1.0 (any trade
# costs one job what it gives another). More generally the max-min optimum is limited by the job
# with the least to gain (a job that runs equally fast everywhere stays at 1.0), so awareness pays
# most in throughput-oriented objectives and when some GPUs would otherwise be idle or misused (a
# type-blind scheduler may put the 10x job on a K80); it pays little on a homogeneous or idle
# cluster, or when moving jobs between types (checkpoint, restart) costs more than it wins.

# %% [markdown] kind="rubric" id="q_hetero_why_rubric"
# Rubric (2 points):
#
# * 1 point: when it pays: jobs whose relative speed-ups differ (some prefer the other type, or gain
#   far less from the fast one), so trades make every job better off; when it does not: every job
#   with the same ratio on a full cluster (SAME gives exactly 1.0), a homogeneous or idle cluster.
# * 1 point: why: the LP moves fast-GPU time to the jobs with the largest relative gain (comparative
#   advantage); with equal ratios and no slack every trade is zero-sum, and max-min is capped by the
#   job with the least to gain. Half a point for "fast GPUs go to the jobs that need them" without
#   the relative argument.
# * Typical wrong answer: "whenever the cluster has several GPU types" (SAME has two and gains
#   nothing), or "when the V100 is much faster" (it is 3x faster in SAME too).
