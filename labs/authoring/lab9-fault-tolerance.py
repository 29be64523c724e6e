# lab9-fault-tolerance: the source of labs/source/lab9-fault-tolerance/lab9-fault-tolerance.ipynb (jupytext percent format).
# Build the notebook with `mlsys-grade build lab9-fault-tolerance`; docs/labs.md says how a lab is written.
# mlsys_grade: {"reference": ["mlsys_kit.fault.waste", "mlsys_kit.fault.gemini", "mlsys_kit.fault.reshard_math", "mlsys_kit.fault.failsim", "mlsys_kit.fault.failsim_fast"]}

# %% [markdown] id="intro"
# # Lab 9: failures and checkpoints
#
# A training job on ten thousand devices fails every few hours. What it loses is the work since
# its last checkpoint, the restart, and the time spent writing checkpoints at all. This lab
# builds the three pieces a fault-tolerant trainer is made of:
#
# 1. the expected wasted time of a checkpoint interval, and the best interval (Young, Daly);
# 2. where the checkpoints go: GEMINI keeps them in the CPU memory of peer machines, and the
#    replica placement decides which failures can still be recovered from memory;
# 3. resharding: a ZeRO-sharded checkpoint turned into one per-parameter ("universal") form and
#    cut back out for another number of ranks or ZeRO stage, so a job can resume on fewer devices;
# 4. a design question.
#
# Reading: Young, "A first order approximation to the optimum checkpoint interval" (CACM 1974);
# Daly (FGCS 2006), section 3; GEMINI (Wang et al., SOSP'23), section 4; Universal Checkpointing
# (Lian et al., ATC'25), section 3; ZeRO (SC'20), section 5. The reference is `mlsys_kit.fault`
# (`mlsys-kit fault plan`, `fault reshard`); the functions you write carry its names.
#
# Fill in every cell that says `YOUR CODE HERE` (delete the `raise NotImplementedError()`), then run
# the test cell below it. The visible tests are a start; hidden tests check many more cases.
# Total: 20 points (18 autograded, 2 graded by hand).

# %% kind="locked" id="setup"
import itertools
import math

STATES = ("param", "exp_avg", "exp_avg_sq")  # what a checkpoint keeps per parameter (Adam's two moments)


def lab_adam_train(universal, specs, steps, start_step=0, lr=0.05):
    """A tiny real training run on a universal state: the model's parameters, laid end to end, are
    the weights w of a least-squares fit ((sum_j x_j w_j - y)^2 on fixed data); Adam updates
    param, exp_avg and exp_avg_sq in place. Returns the loss of every step."""
    flat = [v for name, n in specs for v in universal[name]["param"]]
    losses = []
    for step in range(start_step + 1, start_step + steps + 1):
        xs = [[math.sin(0.7 * i + 1.3 * j + 0.1 * step) for j in range(len(flat))] for i in range(4)]
        ys = [math.cos(0.5 * i + 0.2 * step) for i in range(4)]
        err = [sum(x * w for x, w in zip(row, flat)) - y for row, y in zip(xs, ys)]
        losses.append(sum(e * e for e in err) / len(err))
        grad = [2 * sum(e * row[j] for e, row in zip(err, xs)) / len(err) for j in range(len(flat))]
        off = 0
        for name, n in specs:
            st = universal[name]
            for k in range(n):
                g = grad[off + k]
                st["exp_avg"][k] = 0.9 * st["exp_avg"][k] + 0.1 * g
                st["exp_avg_sq"][k] = 0.999 * st["exp_avg_sq"][k] + 0.001 * g * g
                mhat = st["exp_avg"][k] / (1 - 0.9 ** step)
                vhat = st["exp_avg_sq"][k] / (1 - 0.999 ** step)
                st["param"][k] -= lr * mhat / (math.sqrt(vhat) + 1e-8)
            flat[off:off + n] = st["param"]
            off += n
    return losses

# %% [markdown] id="md-waste"
# ## 1. Wasted work and the best checkpoint interval (5 points)
#
# A job runs on `devices` devices, each failing independently with mean time between failures
# `device_mtbf` (seconds). `job_mtbf(device_mtbf, devices)`: the job's MTBF M (any device failing
# stops the job), a float; raise `ValueError` if `devices < 1` or `device_mtbf <= 0`.
#
# The job checkpoints after every `interval` T seconds of compute (each checkpoint takes C
# seconds) and after a failure restarts (R seconds) from the last checkpoint. Per second of
# useful work it loses C/T to checkpoints, and per failure (one per M seconds) half an interval of
# redone work on average plus the restart. `waste_fraction(interval, checkpoint, restart, mtbf)`:
# Young's first-order expected waste, `C/T + (T/2 + R)/M`.
#
# `young_interval(checkpoint, mtbf)`: the T that minimises it (Young 1974), and
# `daly_interval(checkpoint, mtbf)`: Daly's higher-order optimum (2006, eq. 37),
# `sqrt(2CM) * (1 + sqrt(x)/3 + x/9) - C` with `x = C/(2M)` when `C < 2M`, and `M` otherwise
# (checkpointing more than once per MTBF cannot help). All return floats.

# %% kind="solution" id="waste"
def job_mtbf(device_mtbf: float, devices: int) -> float:
    ### BEGIN SOLUTION
    if devices < 1 or device_mtbf <= 0:
        raise ValueError(f"need devices >= 1 and device_mtbf > 0: got {devices!r}, {device_mtbf!r}")
    return float(device_mtbf / devices)
    ### END SOLUTION


def waste_fraction(interval: float, checkpoint: float, restart: float, mtbf: float) -> float:
    ### BEGIN SOLUTION
    return float(checkpoint / interval + (interval / 2 + restart) / mtbf)
    ### END SOLUTION


def young_interval(checkpoint: float, mtbf: float) -> float:
    ### BEGIN SOLUTION
    return math.sqrt(2 * checkpoint * mtbf)
    ### END SOLUTION


def daly_interval(checkpoint: float, mtbf: float) -> float:
    ### BEGIN SOLUTION
    if checkpoint >= 2 * mtbf:
        return float(mtbf)
    x = checkpoint / (2 * mtbf)
    return math.sqrt(2 * checkpoint * mtbf) * (1 + math.sqrt(x) / 3 + x / 9) - checkpoint
    ### END SOLUTION

# %% kind="test" id="test_waste" points=5
_m = job_mtbf(5 * 365 * 86400.0, 10_000)
assert type(_m) is float and math.isclose(_m, 15768.0), f"job_mtbf(5 years, 10000 devices) is {_m!r}, expected 15768.0 s (4.4 h)"
_w = waste_fraction(600.0, 60.0, 300.0, 3600.0)
assert type(_w) is float and math.isclose(_w, 0.1 + 600 / 3600), \
    f"waste_fraction(T=600, C=60, R=300, M=3600) is {_w!r}, expected 60/600 + (300 + 300)/3600 = 0.2667"
_y = young_interval(60.0, 3600.0)
assert type(_y) is float and math.isclose(_y, math.sqrt(2 * 60 * 3600)), f"young_interval(60, 3600) is {_y!r}, expected sqrt(2 C M) = 657.3"
_d = daly_interval(60.0, 3600.0)
assert type(_d) is float and math.isclose(_d, 617.8756496256495), f"daly_interval(60, 3600) is {_d!r}, expected 617.88"
### BEGIN HIDDEN TESTS
from mlsys_kit.fault import waste as _ref_waste

_rng = student_rng("waste")
same_as_reference(job_mtbf, _ref_waste.job_mtbf, [(3600.0, 1), (1e6, 7), (2.5, 3), (0.5, 2), (1.0, 1)] +
                  [(_rng.uniform(1e3, 1e8), _rng.randint(1, 20000)) for _ in range(8)], rel=1e-12)
for _bad in ((3600.0, 0), (0.0, 4), (-1.0, 2), (100.0, -3)):
    try:
        job_mtbf(*_bad)
        raise AssertionError(f"job_mtbf{_bad} must raise ValueError")
    except ValueError:
        pass
_cases = [(100.0, 0.0, 0.0, 1000.0), (100.0, 10.0, 0.0, 1000.0), (100.0, 0.0, 50.0, 1000.0)]
_cases += [(_rng.uniform(1, 1e4), _rng.uniform(0, 600), _rng.uniform(0, 900), _rng.uniform(1e3, 1e6)) for _ in range(12)]
same_as_reference(waste_fraction, _ref_waste.waste_fraction, _cases, rel=1e-12)
_cases = [(60.0, 3600.0), (1.0, 1.0), (7200.0, 3600.0), (7199.0, 3600.0), (10000.0, 3600.0)]
_cases += [(_rng.uniform(1, 3000), _rng.uniform(100, 1e6)) for _ in range(12)]
_cases += [(60.0, 20.0), (60.0, 100.0)]  # the same checkpoint cost, another MTBF: its own answer
same_as_reference(young_interval, _ref_waste.young_interval, _cases, rel=1e-12)
same_as_reference(daly_interval, _ref_waste.daly_interval, _cases, rel=1e-12)
# the interval minimises the waste: a little shorter or longer wastes more
for _c, _mm in _cases[5:-2]:
    _t = young_interval(_c, _mm)
    assert waste_fraction(_t, _c, 0.0, _mm) <= min(waste_fraction(_t * 0.9, _c, 0.0, _mm), waste_fraction(_t * 1.1, _c, 0.0, _mm))
### END HIDDEN TESTS

# %% [markdown] id="md-placement"
# ## 2. Checkpoints in peer memory: which failures can be recovered? (5 points)
#
# GEMINI keeps every machine's checkpoint in the CPU memory of `m` machines, itself included.
# `placement(n, m, strategy)` returns `holders`, a list of n lists: `holders[i]` the machines that
# keep machine i's checkpoint, **i first**, then the others in increasing order of
# `(j - i) mod n` (so that the list is unique):
#
# * `"group"`: the n machines form n/m groups of m consecutive machines (0..m-1, m..2m-1, ...)
#   and every machine's checkpoint is on every machine of its group; raise `ValueError` when m
#   does not divide n;
# * `"ring"`: machine i's checkpoint is on i, i+1, ..., i+m-1 (mod n).
#
# Raise `ValueError` for `m < 1`, `m > n` or another strategy.
#
# `recoverable(holders, failed)`: whether every machine's checkpoint still sits on at least one
# machine not in the set `failed`. `recovery_probability(n, m, k, strategy)`: the probability that
# k machines failing (every set of k machines equally likely) can be recovered from CPU memory, a
# float (enumerating the sets is fine at the sizes tested; the paper has a closed form). Leave the
# arguments as they were.

# %% kind="solution" id="placement"
def placement(n: int, m: int, strategy: str) -> list:
    ### BEGIN SOLUTION
    if m < 1 or m > n or strategy not in ("group", "ring"):
        raise ValueError(f"need 1 <= m <= n and strategy 'group' or 'ring': got n={n}, m={m}, {strategy!r}")
    if strategy == "ring":
        return [[(i + j) % n for j in range(m)] for i in range(n)]
    if n % m:
        raise ValueError(f"group placement needs m to divide n: got n={n}, m={m}")
    holders = []
    for i in range(n):
        start = i // m * m
        holders.append(sorted(range(start, start + m), key=lambda j: (j - i) % n))
    return holders
    ### END SOLUTION


def recoverable(holders: list, failed: set) -> bool:
    ### BEGIN SOLUTION
    return all(any(h not in failed for h in hs) for hs in holders)
    ### END SOLUTION


def recovery_probability(n: int, m: int, k: int, strategy: str) -> float:
    ### BEGIN SOLUTION
    holders = placement(n, m, strategy)
    ok = total = 0
    for failed in itertools.combinations(range(n), k):
        total += 1
        ok += recoverable(holders, set(failed))
    return ok / total
    ### END SOLUTION

# %% kind="test" id="test_placement" points=5
_h = placement(4, 2, "group")
assert _h == [[0, 1], [1, 0], [2, 3], [3, 2]], f"placement(4, 2, 'group') is {_h!r}, expected [[0, 1], [1, 0], [2, 3], [3, 2]]"
_h = placement(4, 2, "ring")
assert _h == [[0, 1], [1, 2], [2, 3], [3, 0]], f"placement(4, 2, 'ring') is {_h!r}, expected [[0, 1], [1, 2], [2, 3], [3, 0]]"
assert recoverable(_h, {0, 2}) is True and recoverable(_h, {1, 2}) is False, "ring of 4, m=2: losing 1 and 2 loses machine 1's checkpoint"
_p = recovery_probability(4, 2, 2, "group")
assert type(_p) is float and math.isclose(_p, 4 / 6), f"recovery_probability(4, 2, 2, 'group') is {_p!r}, expected 4/6"
### BEGIN HIDDEN TESTS
from mlsys_kit.fault import gemini as _ref_gemini


def _ref_placement(n, m, strategy):
    one_of = ("group", "ring")
    if strategy not in one_of:
        raise ValueError(strategy)
    return [sorted(hs, key=lambda j: (j - i) % n) for i, hs in enumerate(_ref_gemini.placement(n, m, strategy))]


_rng = student_rng("placement")
_cases = [(1, 1, "group"), (1, 1, "ring"), (6, 3, "group"), (6, 3, "ring"), (6, 6, "group"), (5, 5, "ring"), (7, 1, "ring"),
          (8, 4, "group"), (5, 2, "ring"), (9, 3, "group")]
for _ in range(6):
    _m = _rng.randint(1, 5)
    _cases += [(_m * _rng.randint(1, 5), _m, "group"), (_rng.randint(_m, 14), _m, "ring")]
same_as_reference(placement, _ref_placement, _cases)
for _bad in ((6, 4, "group"), (3, 4, "ring"), (4, 0, "ring"), (4, 2, "star"), (4, 0, "group")):
    try:
        placement(*_bad)
        raise AssertionError(f"placement{_bad} must raise ValueError")
    except ValueError:
        pass
_hcases = []
for _n, _m, _s in _cases[:14]:
    _hs = _ref_gemini.placement(_n, _m, _s)
    for _ in range(3):
        _hcases.append((_hs, set(_rng.sample(range(_n), _rng.randint(0, _n)))))
_hcases += [([[0, 1], [1, 0]], set()), ([[0, 1], [1, 0]], {0, 1}), ([[0, 1], [1, 0]], {1}), ([[0]], {5})]
same_as_reference(recoverable, _ref_gemini.recoverable, _hcases)
_cases = [(4, 2, 0, "group"), (4, 2, 4, "ring"), (6, 3, 3, "group"), (6, 3, 3, "ring"), (8, 2, 3, "group"), (8, 2, 3, "ring"),
          (5, 1, 1, "ring"), (6, 6, 6, "group")]
for _ in range(6):
    _m = _rng.randint(1, 3)
    _n = _m * _rng.randint(1, 4)
    _cases += [(_n, _m, _rng.randint(0, _n), "group"), (_n + _rng.randint(0, 2), _m, _rng.randint(0, _n), "ring")]
same_as_reference(recovery_probability, _ref_gemini.recovery_probability, _cases, rel=1e-12)
### END HIDDEN TESTS

# %% [markdown] id="md-reshard"
# ## 3. Resharding a ZeRO checkpoint (6 points)
#
# A model's parameters are `specs`, a list of `(name, numel)` pairs. Under ZeRO with `d` data
# ranks they are laid end to end in one flat buffer, padded with `0.0` to `d * S` elements,
# `S = ceil(total / d)`; rank r owns elements `[r*S, (r+1)*S)`. For each of the three states of
# `STATES` a rank keeps either its slice (S elements) or the whole padded buffer (d*S), by stage:
#
# | stage | `param` | `exp_avg`, `exp_avg_sq` |
# | --- | --- | --- |
# | 0 | whole | whole |
# | 1, 2 | whole | slice |
# | 3 | slice | slice |
#
# (Gradients are not checkpointed.) The universal form (Universal Checkpointing, section 3) is a
# dict `{name: {state: list of numel floats}}`.
#
# * `from_universal(universal, specs, d, stage)`: the list of d rank checkpoints, each a dict
#   `{state: list of floats}`;
# * `to_universal(shards, specs, d, stage)`: back to the universal form;
# * `reshard(shards, specs, src, dst)`: from layout `src = (d, stage)` to `dst`;
# * `rank_bytes(specs, d, stage, state_bytes=4)`: the bytes one rank's checkpoint takes (an int;
#   padding counts), which is ZeRO's memory model without the gradients.
#
# Leave the arguments as they were; return new lists.

# %% kind="solution" id="reshard"
def from_universal(universal: dict, specs: list, d: int, stage: int) -> list:
    ### BEGIN SOLUTION
    total = sum(n for _, n in specs)
    size = -(-total // d)
    shards = [{} for _ in range(d)]
    for state in STATES:
        flat = [v for name, _ in specs for v in universal[name][state]]
        flat += [0.0] * (size * d - total)
        sliced = stage >= (3 if state == "param" else 1)
        for r in range(d):
            shards[r][state] = flat[r * size:(r + 1) * size] if sliced else list(flat)
    return shards
    ### END SOLUTION


def to_universal(shards: list, specs: list, d: int, stage: int) -> dict:
    ### BEGIN SOLUTION
    universal = {name: {} for name, _ in specs}
    for state in STATES:
        sliced = stage >= (3 if state == "param" else 1)
        flat = [v for r in range(d) for v in shards[r][state]] if sliced else shards[0][state]
        off = 0
        for name, n in specs:
            universal[name][state] = flat[off:off + n]
            off += n
    return universal
    ### END SOLUTION


def reshard(shards: list, specs: list, src: tuple, dst: tuple) -> list:
    ### BEGIN SOLUTION
    return from_universal(to_universal(shards, specs, *src), specs, *dst)
    ### END SOLUTION


def rank_bytes(specs: list, d: int, stage: int, state_bytes: int = 4) -> int:
    ### BEGIN SOLUTION
    size = -(-sum(n for _, n in specs) // d)
    elems = 0
    for state in STATES:
        elems += size if stage >= (3 if state == "param" else 1) else size * d
    return elems * state_bytes
    ### END SOLUTION

# %% kind="test" id="test_reshard" points=6
_specs = [("w", 3), ("b", 2)]
_u = {"w": {s: [1.0, 2.0, 3.0] for s in STATES}, "b": {s: [4.0, 5.0] for s in STATES}}
_sh = from_universal(_u, _specs, 2, 1)
assert type(_sh) is list and len(_sh) == 2, f"from_universal(5 elements, d=2, stage 1): return a list of 2 dicts, got {_sh!r}"
assert _sh[1]["param"] == [1.0, 2.0, 3.0, 4.0, 5.0, 0.0] and _sh[1]["exp_avg"] == [4.0, 5.0, 0.0], \
    f"rank 1 under ZeRO-1 holds the whole padded param buffer and the slice [3, 6) of the moments: got {_sh[1]!r}"
assert to_universal(_sh, _specs, 2, 1) == _u, "to_universal(from_universal(u)) must give u back"
_b = rank_bytes(_specs, 2, 1)
assert type(_b) is int and _b == (6 + 3 + 3) * 4, f"rank_bytes(5 elements, d=2, stage 1) is {_b!r}, expected (6 + 3 + 3) x 4 = 48"
### BEGIN HIDDEN TESTS
from mlsys_kit.fault import reshard_math as _rm


def _layout(d, stage):
    return _rm.Layout(1, d, stage)


def _ps(specs):
    return [_rm.ParamSpec(name, (n,)) for name, n in specs]


def _ref_from(u, specs, d, stage):
    return _rm.from_universal(u, _ps(specs), _layout(d, stage))


def _ref_to(shards, specs, d, stage):
    return _rm.to_universal(shards, _ps(specs), _layout(d, stage))


def _ref_reshard(shards, specs, src, dst):
    return _rm.reshard(shards, _ps(specs), _layout(*src), _layout(*dst))


def _ref_bytes(specs, d, stage, state_bytes=4):
    return _rm.checkpoint_bytes(_ps(specs), _layout(d, stage), dict.fromkeys(STATES, state_bytes))[0]


_rng = student_rng("reshard")


def _draw_model():
    specs = [(f"p{i}", _rng.randint(1, 9)) for i in range(_rng.randint(1, 4))]
    u = {name: {s: [round(_rng.uniform(-1, 1), 3) for _ in range(n)] for s in STATES} for name, n in specs}
    return specs, u


_cases, _shard_cases, _moves = [], [], []
for _k in range(12):
    _specs, _u = _draw_model()
    _d, _st = _rng.randint(1, 5), _k % 4
    _cases.append((_u, _specs, _d, _st))
    _shard_cases.append((_ref_from(_u, _specs, _d, _st), _specs, _d, _st))
    _moves.append((_ref_from(_u, _specs, _d, _st), _specs, (_d, _st), (_rng.randint(1, 5), _rng.randint(0, 3))))
_specs, _u = [("a", 4), ("b", 4)], {"a": {s: [1.0, 2.0, 3.0, 4.0] for s in STATES}, "b": {s: [5.0, 6.0, 7.0, 8.0] for s in STATES}}
for _d in (1, 2, 3, 8, 9):  # divides, does not, more ranks than elements
    for _st in (0, 1, 2, 3):
        _cases.append((_u, _specs, _d, _st))
        _shard_cases.append((_ref_from(_u, _specs, _d, _st), _specs, _d, _st))
same_as_reference(from_universal, _ref_from, _cases)
same_as_reference(to_universal, _ref_to, _shard_cases)
same_as_reference(reshard, _ref_reshard, _moves + [(_shard_cases[-1][0], _specs, (9, 3), (2, 1))])
# the same shards read under other parameter names and sizes, and moved to other layouts: each its own answer
_sh = _ref_from(_u, _specs, 2, 1)
same_as_reference(to_universal, _ref_to, [(_sh, _specs, 2, 1), (_sh, [("c", 8)], 2, 1), (_sh, [("a", 5), ("b", 3)], 2, 1)])
same_as_reference(reshard, _ref_reshard, [(_sh, _specs, (2, 1), _dst) for _dst in ((1, 0), (4, 3), (3, 2), (2, 1))])
same_as_reference(rank_bytes, _ref_bytes, [(_s, _d, _st) for _, _s, _d, _st in _cases] +
                  [((_specs, 3, 2), {"state_bytes": 2}), (_specs, 4, 0, 12)])
# new lists: changing what from_universal returned leaves the universal form alone (and the other ranks)
_specs, _u = [("a", 3)], {"a": {s: [1.0, 2.0, 3.0] for s in STATES}}
for _st in (0, 3):
    _sh = from_universal(_u, _specs, 2, _st)
    _sh[0]["param"][0] = 99.0
    assert _u["a"]["param"][0] == 1.0 and _sh[1]["param"][0] != 99.0, f"stage {_st}: the shards share lists with the input"
    _shards = _ref_from(_u, _specs, 2, _st)
    _back = to_universal(_shards, _specs, 2, _st)
    _back["a"]["param"][0] = 42.0
    assert _shards[0]["param"][0] == 1.0, f"stage {_st}: to_universal's result shares lists with the shards"
# a real resume: 3 steps under ZeRO-1 on 2 ranks, resharded with your function to ZeRO-3 on 3 ranks, 3 steps more:
# the same losses, bit for bit, as 6 steps without the interruption
_specs = [("w", 3), ("v", 2)]
_u0 = {name: {"param": [0.1 * (i + 1) for i in range(n)], "exp_avg": [0.0] * n, "exp_avg_sq": [0.0] * n} for name, n in _specs}
_whole = {k: {s: list(v) for s, v in st.items()} for k, st in _u0.items()}
_want = lab_adam_train(_whole, _specs, 6)
_part = {k: {s: list(v) for s, v in st.items()} for k, st in _u0.items()}
_got = lab_adam_train(_part, _specs, 3)
_moved = reshard(_rm.from_universal(_part, _ps(_specs), _layout(2, 1)), _specs, (2, 1), (3, 3))
_resumed = _rm.to_universal(_moved, _ps(_specs), _layout(3, 3))
_got += lab_adam_train(_resumed, _specs, 3, start_step=3)
assert _got == _want, f"resumed after resharding: losses {_got} differ from the uninterrupted run's {_want}"
### END HIDDEN TESTS

# %% [markdown] id="md-design"
# ## 4. Design question: what in-memory checkpoints cannot do (4 points)
#
# Set `ANSWER_PLACEMENT` to the strategy (`"group"` or `"ring"`) with the higher probability of
# recovering from CPU memory when 3 of 16 machines fail with 2 replicas, and `ANSWER_GAIN` to
# that probability minus the other's (a float), both computed with your functions. (2 points,
# autograded.)
#
# Then answer in the cell at the end of this section, in a few sentences (2 points, graded by hand):
# **GEMINI checkpoints to CPU memory every iteration, remote storage every few hours. Why can it
# afford to, and why does it still need remote storage?**

# %% kind="solution" id="answer_placement"
### BEGIN SOLUTION
_g = recovery_probability(16, 2, 3, "group")
_r = recovery_probability(16, 2, 3, "ring")
ANSWER_PLACEMENT = "group" if _g > _r else "ring"
ANSWER_GAIN = abs(_g - _r)
### END SOLUTION
print(ANSWER_PLACEMENT, ANSWER_GAIN)

# %% kind="test" id="test_answer_placement" points=2
try:
    _answer, _gain = ANSWER_PLACEMENT, ANSWER_GAIN
except NameError:
    raise AssertionError("ANSWER_PLACEMENT or ANSWER_GAIN is not set: run the cell above that sets them first") from None
assert _answer in ("group", "ring"), f"ANSWER_PLACEMENT should be 'group' or 'ring', got {_answer!r}"
assert type(_gain) is float, f"ANSWER_GAIN should be a float, got a {type(_gain).__name__} ({_gain!r})"
### BEGIN HIDDEN TESTS
from mlsys_kit.fault.gemini import recovery_probability as _ref_rp

assert _answer == "group"  # GEMINI section 4: group placement is optimal when m divides N
assert math.isclose(_gain, _ref_rp(16, 2, 3, "group") - _ref_rp(16, 2, 3, "ring"), rel_tol=1e-9)
### END HIDDEN TESTS

# %% [markdown] kind="answer" id="q_memory_why" points=2
# It can afford to because the checkpoint never blocks training: each machine copies its shard to
# its m-1 peers over the training network (hundreds of Gbit/s per machine, against tens for remote
# storage shared by all), in the idle gaps between the step's own communication, so the
# checkpoint cost C is about zero; with C near zero the best interval sqrt(2CM) shrinks to one
# iteration, and a failure loses at most one iteration plus a retrieval at network speed. It still
# needs remote storage because CPU memory is volatile and limited: when all m machines of a group
# fail together (a rack or power failure, k >= m correlated failures) the checkpoint is gone, and a
# job that is stopped, rescheduled on other machines or resized finds no memory copy; so GEMINI
# keeps writing to remote storage at a low frequency as the fallback.

# %% [markdown] kind="rubric" id="q_memory_why_rubric"
# Rubric (2 points):
#
# * 1 point: why every iteration is affordable: the checkpoint goes over the fast training
#   network into otherwise idle time (interleaved with training traffic), so C is about zero and
#   the Young interval sqrt(2CM) is tiny; recovery reads from peer memory at network bandwidth.
# * 1 point: why remote storage stays: CPU memory is lost when all replicas of a checkpoint fail
#   together (k >= m in a group, correlated failures: rack, power, network partition) or when the
#   whole job stops or moves; remote storage is the persistent fallback, written rarely.
# * Typical wrong answer: "CPU memory is faster" with no reason why frequency is free, or "for
#   safety" without naming which failures memory cannot survive.
