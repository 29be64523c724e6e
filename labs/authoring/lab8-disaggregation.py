# lab8-disaggregation: the source of labs/source/lab8-disaggregation/lab8-disaggregation.ipynb (jupytext percent format).
# Build the notebook with `mlsys-grade build lab8-disaggregation`; docs/labs.md says how a lab is written.
# mlsys_grade: {"reference": ["mlsys_kit.disagg.simulate", "mlsys_kit.disagg.placement", "mlsys_kit.disagg.mooncake"]}

# %% [markdown] id="intro"
# # Lab 8: disaggregated serving
#
# A colocated serving engine runs prompts (prefill: compute-bound, long) and token generation
# (decode: memory-bound, short steps) on the same device, so every prefill it runs stalls the
# decodes beside it, and both phases must share one parallelism. DistServe (OSDI'24) puts them on
# separate instances and moves each prompt's KV cache from the prefill instance to a decode
# instance. This lab builds the accounting that decides whether that pays off:
#
# 1. the KV bytes a request moves and the time they take on the link;
# 2. the time to first token (TTFT) *including* the transfer, with one transfer at a time per link;
# 3. SLO attainment, DistServe's goodput, and goodput per device;
# 4. the placement search: how to split N devices into prefill and decode instances;
# 5. when disaggregation stops paying off: the slowest link a TTFT budget allows.
#
# Reading: DistServe (Zhong et al., OSDI'24), sections 2 (goodput, interference), 3 (the cost
# of each phase and of the transfer) and 4 (placement, Algorithm 1); Mooncake (Qin et al.,
# FAST'25), section 7 (early rejection). The reference is `mlsys-kit serve disagg` / `serve place`
# (`mlsys_kit.disagg`); the functions you write carry its names.
#
# Fill in every cell that says `YOUR CODE HERE` (delete the `raise NotImplementedError()`), then run
# the test cell below it. The visible tests are a start; hidden tests check many more cases.
# Total: 21 points (19 autograded, 2 graded by hand).

# %% kind="locked" id="setup"
import math

# Models as plain dicts: K and V are stored per layer per *KV* head (grouped-query attention
# keeps fewer KV heads than query heads).
OPT_13B = {"layers": 40, "heads": 40, "kv_heads": 40, "head_dim": 128, "dtype_bytes": 2}
LLAMA2_70B = {"layers": 80, "heads": 64, "kv_heads": 8, "head_dim": 128, "dtype_bytes": 2}


def speedup(tp):
    """How much faster a tp-way tensor-parallel instance runs (communication costs 10 % per doubling)."""
    return tp * 0.9 ** math.log2(tp)


def lab_max_rate(placement):
    """A stand-in for the simulator: the highest request rate (req/s) a placement serves within
    the SLOs, for a chatbot-like workload on 13B-class devices. Prefill instances keep their TTFT
    queue short at 60 % busy (0.09 s per prompt on one device); a decode instance holds 16
    requests per device within the TPOT objective, each decoding for 0.9 s. A tp=8 instance does
    not exist on these nodes (4 devices each)."""
    if placement["prefill_tp"] > 4 or placement["decode_tp"] > 4:
        return 0.0
    prefill = placement["prefill"] * speedup(placement["prefill_tp"]) * 0.6 / 0.09
    decode = placement["decode"] * 16 * placement["decode_tp"] * speedup(placement["decode_tp"]) ** 0.5 / 0.9
    return min(prefill, decode)


def front_end_rate(placement):
    """A stand-in where the front end, not the devices, limits the rate: every placement sustains
    12 req/s, so every split of the same devices has the same goodput per device."""
    return 12.0


def balanced_rate(placement):
    """A stand-in where each phase needs as many devices as the other: the rate is 3 req/s per
    device of the smaller side (many placements tie)."""
    return 3.0 * min(placement["prefill"] * placement["prefill_tp"], placement["decode"] * placement["decode_tp"])

# %% [markdown] id="md-kv"
# ## 1. What moves, and how long it takes (3 points)
#
# `kv_bytes_per_token(cfg)`: the bytes of the K and V vectors of one token, over all layers and KV
# heads (OPT-13B in fp16: 800 KB per token; a request moves `prompt_len` times that).
# `transfer_seconds(nbytes, gbps, latency)`: the time to move `nbytes` bytes over a link of `gbps`
# gigabits per second (1 Gbit = 1e9 bits) with a fixed `latency` in seconds per transfer. Both
# return plain numbers (`int` and `float`) and leave `cfg` as it was.

# %% kind="solution" id="kv_bytes"
def kv_bytes_per_token(cfg: dict) -> int:
    ### BEGIN SOLUTION
    return 2 * cfg["layers"] * cfg["kv_heads"] * cfg["head_dim"] * cfg["dtype_bytes"]
    ### END SOLUTION


def transfer_seconds(nbytes: int, gbps: float, latency: float) -> float:
    ### BEGIN SOLUTION
    return float(latency + nbytes * 8 / (gbps * 1e9))
    ### END SOLUTION

# %% kind="test" id="test_kv_bytes" points=3
_b = kv_bytes_per_token(OPT_13B)
assert type(_b) is int, f"kv_bytes_per_token(OPT_13B): return an int, got a {type(_b).__name__} ({_b!r})"
assert _b == 819_200, f"kv_bytes_per_token(OPT_13B) is {_b}, expected 2 (K, V) x 40 layers x 40 KV heads x 128 x 2 bytes = 819200"
_s = transfer_seconds(10**9, 8.0, 0.5)
assert type(_s) is float, f"transfer_seconds(10**9, 8.0, 0.5): return a float, got a {type(_s).__name__} ({_s!r})"
assert math.isclose(_s, 1.5), f"transfer_seconds(10**9 bytes, 8 Gbit/s, 0.5 s) is {_s}, expected 0.5 + 8e9 bits / 8e9 bit/s = 1.5"
### BEGIN HIDDEN TESTS
from mlsys_kit.models import costs as _costs
from mlsys_kit.disagg.simulate import Link as _Link

_ref70 = _costs.kv_bytes_per_token(_costs.preset("llama2-70b"))
assert kv_bytes_per_token(LLAMA2_70B) == _ref70 == 327_680, "grouped-query attention stores K/V per KV head"
assert kv_bytes_per_token(OPT_13B) == _costs.kv_bytes_per_token(_costs.preset("opt-13b"))


def _ref_kv(cfg):
    return 2 * cfg["layers"] * cfg["kv_heads"] * cfg["head_dim"] * cfg["dtype_bytes"]


_rng = student_rng("kv")
_cfgs = [{"layers": 3, "heads": 8, "kv_heads": 2, "head_dim": 8, "dtype_bytes": 4}]
for _ in range(6):  # every field varied, heads != kv_heads
    _kvh = _rng.choice([1, 2, 4, 8])
    _cfgs.append({"layers": _rng.randint(1, 96), "heads": _kvh * _rng.choice([1, 4, 8]), "kv_heads": _kvh,
                  "head_dim": _rng.choice([64, 80, 96, 128, 256]), "dtype_bytes": _rng.choice([1, 2, 4])})
same_as_reference(kv_bytes_per_token, _ref_kv, [(_c,) for _c in _cfgs])
_links = [(819_200 * 1000, 100.0, 0.0), (0, 1.0, 0.002), (123, 0.5, 0.25), (10**9, 8, 0)]
_links += [(_rng.randint(0, 10**10), _rng.choice([1, 10, 25.0, 100.0, 400.0]), _rng.choice([0.0, 1e-4, 0.01]))
           for _ in range(6)]
same_as_reference(transfer_seconds, lambda n, g, lat: _Link(float(g), float(lat)).seconds(n), _links, rel=1e-12)
### END HIDDEN TESTS

# %% [markdown] id="md-ttft"
# ## 2. Transfer-aware time to first token (4 points)
#
# The prefill instance samples token 1, but the user sees it only when the request is on its
# decode instance (which streams the answer), so **the TTFT includes the transfer**. Each prefill
# instance has one link: its requests' KV caches cross it **one at a time**, in the order their
# prefills finish (ties: lower index first); a transfer starts at `max(prefill_end, link free)`.
# A request with `output_len == 1` is complete after its prefill: nothing moves, its TTFT ends at
# `prefill_end`.
#
# `first_token_times(requests, prefill_end, lane, kv_bytes_per_token, gbps, latency)`: `requests`
# is a list of dicts with `arrival`, `prompt_len`, `output_len`; `prefill_end[i]` is when request
# i's prefill finished and `lane[i]` its prefill instance. Return the list of TTFTs (seconds from
# arrival), one float per request, in input order. The whole prompt's KV moves. Leave the
# arguments as they were (the caller reads them again).

# %% kind="solution" id="ttft"
def first_token_times(requests: list, prefill_end: list, lane: list, kv_bytes_per_token: int, gbps: float,
                      latency: float) -> list:
    ### BEGIN SOLUTION
    ttft = [0.0] * len(requests)
    free = {}
    for i in sorted(range(len(requests)), key=lambda i: (prefill_end[i], i)):
        r = requests[i]
        done = prefill_end[i]
        if r["output_len"] > 1:
            start = max(done, free.get(lane[i], 0.0))
            done = start + transfer_seconds(r["prompt_len"] * kv_bytes_per_token, gbps, latency)
            free[lane[i]] = done
        ttft[i] = float(done - r["arrival"])
    return ttft
    ### END SOLUTION

# %% kind="test" id="test_ttft" points=4
_reqs = [{"arrival": 0.0, "prompt_len": 1000, "output_len": 10}]
_case = "first_token_times(one request of 1000 tokens, prefill ends at 0.2 s, lane 0, 1000 bytes/token, 8 Gbit/s, no latency)"
_t = first_token_times(_reqs, [0.2], [0], 1000, 8.0, 0.0)
assert type(_t) is list and len(_t) == 1 and type(_t[0]) is float, f"{_case}: return a list of one float, got {_t!r}"
assert math.isclose(_t[0], 0.2 + 0.001), f"{_case} is {_t}, expected [0.201]: the prefill (0.2 s) and the 1 MB transfer (1 ms)"
_r2 = [{"arrival": 0.0, "prompt_len": 1000, "output_len": 5}, {"arrival": 0.05, "prompt_len": 1000, "output_len": 5}]
_case = "first_token_times(two requests on lane 0, prefills end at 0.1 and 0.1005 s, 1 s per transfer)"
_t = first_token_times(_r2, [0.1, 0.1005], [0, 0], 1_000_000, 8.0, 0.0)
assert type(_t) is list and len(_t) == 2 and math.isclose(_t[0], 1.1) and math.isclose(_t[1], 2.1 - 0.05), \
    f"{_case} is {_t}, expected [1.1, 2.05]: the second transfer waits for the first (0.1 + 1 + 1 s, minus its arrival)"
### BEGIN HIDDEN TESTS
# on two links they do not wait
_got = first_token_times(_r2, [0.1, 0.1005], [0, 1], 1_000_000, 8.0, 0.0)
assert math.isclose(_got[1], 0.1005 + 1.0 - 0.05), _got
# one output token: no transfer
_got = first_token_times([{"arrival": 1.0, "prompt_len": 50, "output_len": 1}], [1.5], [0], 10**6, 0.001, 3.0)
assert math.isclose(_got[0], 0.5), _got


def _ref_ttft(reqs, pe, lane, kv, gbps, lat):
    out, free = [None] * len(reqs), {}
    for i in sorted(range(len(reqs)), key=lambda i: (pe[i], i)):
        end = pe[i]
        if reqs[i]["output_len"] > 1:
            end = max(end, free.get(lane[i], 0.0)) + lat + reqs[i]["prompt_len"] * kv * 8 / (gbps * 1e9)
            free[lane[i]] = end
        out[i] = end - reqs[i]["arrival"]
    return out


def _draw(rng, n, lanes, ties=False):
    """n requests, not in arrival order; with `ties`, prefills that end at exactly the same time."""
    arr = [rng.uniform(0, 5) for _ in range(n)]
    reqs = [{"arrival": a, "prompt_len": rng.randint(1, 2000), "output_len": rng.randint(1, 30)} for a in arr]
    pe = [a + rng.uniform(0.01, 2.0) for a in arr]
    if ties:
        for i in range(1, n, 2):
            pe[i] = pe[i - 1] = max(pe[i], pe[i - 1])
    return reqs, pe, [rng.randrange(lanes) for _ in range(n)]


_rng = student_rng("ttft")
_cases = []
for _k in range(40):
    _reqs, _pe, _lane = _draw(_rng, _rng.randint(1, 25), _rng.randint(1, 3), ties=_k % 4 == 0)
    _cases.append((_reqs, _pe, _lane, _rng.choice([512, 819_200]), _rng.choice([1.0, 25.0, 100.0]), _rng.choice([0.0, 0.001])))
same_as_reference(first_token_times, _ref_ttft, _cases, rel=1e-9, abs_tol=1e-12)
# exact ties on one lane, the later index first in arrival: the lower index still crosses first
_reqs = [{"arrival": 0.5, "prompt_len": 1000, "output_len": 3}, {"arrival": 0.0, "prompt_len": 1000, "output_len": 3},
         {"arrival": 0.2, "prompt_len": 500, "output_len": 1}, {"arrival": 0.1, "prompt_len": 1000, "output_len": 2}]
same_as_reference(first_token_times, _ref_ttft, [(_reqs, [1.0, 1.0, 1.0, 1.0], [0, 0, 0, 0], 1_000_000, 8.0, 0.0),
                                                 (_reqs, [1.0, 1.0, 0.5, 1.0], [0, 1, 0, 0], 1_000_000, 8.0, 0.25),
                                                 (_reqs, [2.0, 1.0, 1.0, 2.0], [1, 0, 0, 1], 1_000, 1.0, 0.0)])
# the link frees exactly when the next prefill ends (2 s of transfer: 0.5 + 2.0 = 2.5)
same_as_reference(first_token_times, _ref_ttft, [([{"arrival": 0.0, "prompt_len": 1000, "output_len": 2},
                                                   {"arrival": 0.0, "prompt_len": 1000, "output_len": 2}],
                                                  [0.5, 2.5], [0, 0], 2_000_000, 8.0, 0.0)])
# the same requests in another order (their prefill ends and lanes with them): each one's TTFT is the same
for _ in range(3):
    _reqs, _pe, _lane = _draw(_rng, 12, 2)
    _want = _ref_ttft(_reqs, _pe, _lane, 819_200, 25.0, 0.001)
    _perm = list(range(12))
    _rng.shuffle(_perm)
    _got = first_token_times([_reqs[i] for i in _perm], [_pe[i] for i in _perm], [_lane[i] for i in _perm], 819_200, 25.0, 0.001)
    assert all(math.isclose(_got[k], _want[i], rel_tol=1e-9) for k, i in enumerate(_perm)), ("order", _perm, _got)
### END HIDDEN TESTS

# %% [markdown] id="md-attain"
# ## 3. SLO attainment, goodput and goodput per device (5 points)
#
# `slo_attainment(records, ttft_slo, tpot_slo)`: each record is a dict with `finished` (bool),
# `ttft` and `tpot` (seconds; `tpot` is None for a one-token answer, which has no later tokens). A
# request meets its SLOs when it finished, its TTFT is `<= ttft_slo` **and** its TPOT is
# `<= tpot_slo`. Attainment is the fraction of **all** requests that meet them: a request
# rejected under overload (Mooncake's early rejection) or never finished is a miss. An empty
# `records` has no attainment: raise `ValueError`.
#
# `goodput(points, target=0.9)`: DistServe's goodput is the highest request rate a system sustains
# with attainment `>= target`; `points` is a sweep, a list of `(rate, attainment)` pairs in any
# order (distinct rates). Walk up the rates and stop at the first one that fails: the goodput is
# the last rate that passed (0.0 if the lowest fails). (The reference, `max_rate`, finds the same
# rate by doubling and bisecting over a simulator.)
#
# `goodput_per_device(rate, devices)`: DistServe compares systems by goodput **per device** (the
# cost): `rate / devices` as a float; raise `ValueError` when `devices < 1` or `rate < 0`.
#
# None of the three changes its arguments.

# %% kind="solution" id="goodput"
def slo_attainment(records: list, ttft_slo: float, tpot_slo: float) -> float:
    ### BEGIN SOLUTION
    if not records:
        raise ValueError("attainment needs at least one request")
    ok = 0
    for r in records:
        if r["finished"] and r["ttft"] <= ttft_slo and (r["tpot"] is None or r["tpot"] <= tpot_slo):
            ok += 1
    return ok / len(records)
    ### END SOLUTION


def goodput(points: list, target: float = 0.9) -> float:
    ### BEGIN SOLUTION
    best = 0.0
    for rate, attained in sorted(points):
        if attained < target:
            break
        best = rate
    return float(best)
    ### END SOLUTION


def goodput_per_device(rate: float, devices: int) -> float:
    ### BEGIN SOLUTION
    if devices < 1 or rate < 0:
        raise ValueError(f"goodput per device needs devices >= 1 and rate >= 0: got {rate!r} on {devices!r}")
    return float(rate / devices)
    ### END SOLUTION

# %% kind="test" id="test_goodput" points=5
_recs = [{"finished": True, "ttft": 0.1, "tpot": 0.05}, {"finished": True, "ttft": 0.5, "tpot": 0.05}]
_case = "slo_attainment(two finished requests, TTFT 0.1 s and 0.5 s, TPOT 0.05 s; SLOs 0.25 s and 0.1 s)"
_a = slo_attainment(_recs, 0.25, 0.1)
assert type(_a) is float, f"{_case}: return a float, got a {type(_a).__name__} ({_a!r})"
assert _a == 0.5, f"{_case} is {_a}, expected 0.5 (the second misses its TTFT)"
_g = goodput([(3.0, 0.95), (6.0, 0.5)])
assert type(_g) is float, f"goodput([(3.0, 0.95), (6.0, 0.5)]): return a float, got a {type(_g).__name__} ({_g!r})"
assert _g == 3.0, f"goodput([(3.0, 0.95), (6.0, 0.5)]) is {_g}, expected 3.0 (6 req/s fails the 0.9 target)"
_d = goodput_per_device(3.0, 3)
assert type(_d) is float and math.isclose(_d, 1.0), f"goodput_per_device(3.0, 3) is {_d!r}, expected 1.0"
### BEGIN HIDDEN TESTS
from mlsys_kit.disagg.placement import goodput_per_device as _ref_gpd

# the rejected and the unfinished are misses: attainment is over all requests
_recs = [{"finished": True, "ttft": 0.1, "tpot": 0.01}, {"finished": False, "ttft": None, "tpot": None},
         {"finished": True, "ttft": 0.1, "tpot": None}, {"finished": True, "ttft": 0.1, "tpot": 0.2}]
assert slo_attainment(_recs, 0.25, 0.1) == 0.5
assert slo_attainment([{"finished": True, "ttft": 0.25, "tpot": 0.1}], 0.25, 0.1) == 1.0  # at the SLO: met
assert slo_attainment([{"finished": True, "ttft": 0.3, "tpot": 0.01}], 0.25, 0.1) == 0.0  # both must hold
assert slo_attainment([{"finished": True, "ttft": 0.01, "tpot": 0.3}], 0.25, 0.1) == 0.0
assert slo_attainment([{"finished": False, "ttft": 0.01, "tpot": 0.01}], 0.25, 0.1) == 0.0  # fast but never finished
try:
    slo_attainment([], 0.25, 0.1)
    raise AssertionError("an empty list of records must raise ValueError")
except ValueError:
    pass


def _ref_attain(records, ttft_slo, tpot_slo):
    if not records:
        raise ValueError("no records")
    return sum(r["finished"] and r["ttft"] <= ttft_slo and (r["tpot"] is None or r["tpot"] <= tpot_slo)
               for r in records) / len(records)


_rng = student_rng("goodput")
_cases = []
for _ in range(40):
    _recs = [{"finished": _rng.random() < 0.8, "ttft": _rng.uniform(0, 1), "tpot": _rng.choice([None, _rng.uniform(0, 0.2)])}
             for _ in range(_rng.randint(1, 30))]
    _t1, _t2 = _rng.uniform(0, 1), _rng.uniform(0, 0.2)
    if _rng.random() < 0.3:  # SLOs exactly at some request's TTFT and TPOT
        _t1 = _rng.choice(_recs)["ttft"]
        _t2 = next((r["tpot"] for r in _recs if r["tpot"] is not None), _t2)
    _cases.append((_recs, _t1, _t2))
same_as_reference(slo_attainment, _ref_attain, _cases)
# the same records under tighter and looser SLOs (DistServe's SLO scale): each gets its own answer
same_as_reference(slo_attainment, _ref_attain, [(_cases[0][0], 0.3 * _k, 0.04 * _k) for _k in (0.5, 1.0, 2.0)])


def _ref_goodput(points, target=0.9):
    best = 0.0
    for rate, att in sorted(points):
        if att < target:
            break
        best = rate
    return float(best)


# stop at the first failing rate, even if a higher one passes again (noise in a sweep); >= target passes
_sweeps = [[(6.0, 0.95), (2.0, 1.0), (4.0, 0.85)], [(1.0, 0.5), (2.0, 0.95)], [(1.0, 0.9), (2.0, 0.89)],
           [(1.0, 0.8), (2.0, 0.8)], [(8.0, 0.99)], [(5.0, 0.95), (1.0, 0.99), (3.0, 0.7), (2.0, 0.93), (4.0, 0.91)]]
for _ in range(4):  # a noisy sweep: attainment falls with the rate, with a dip and a recovery
    _rates = sorted(_rng.sample(range(1, 40), 8))
    _att = sorted((_rng.uniform(0.5, 1.0) for _ in _rates), reverse=True)
    _k = _rng.randrange(1, 7)
    _att[_k], _att[_k + 1] = _att[_k + 1], _att[_k]
    _sweeps.append([(float(r), a) for r, a in zip(_rates, _att)])
_cases = []
for _pts in _sweeps:  # the sweep in its order, shuffled and reversed: the same goodput
    _shuffled = list(_pts)
    _rng.shuffle(_shuffled)
    _cases += [(_pts,), (_shuffled,), (_pts[::-1],)]
same_as_reference(goodput, _ref_goodput, _cases)
# the target varied, on the same sweep (each answer its own), and left to its default
same_as_reference(goodput, _ref_goodput, [(_sweeps[5], _t) for _t in (0.75, 0.9, 0.93, 0.95, 0.999)] +
                  [((_sweeps[-1],), {"target": 0.8}), (_sweeps[2],)])
# per device
same_as_reference(goodput_per_device, _ref_gpd, [(8.0, 4), (0.0, 1), (7.5, 3), (_rng.uniform(0, 50), _rng.randint(1, 64)),
                                                 (5, 2)])
for _bad in ((1.0, 0), (-0.5, 2), (2.0, -1)):
    try:
        goodput_per_device(*_bad)
        raise AssertionError(f"goodput_per_device{_bad} must raise ValueError")
    except ValueError:
        pass
### END HIDDEN TESTS

# %% [markdown] id="md-search"
# ## 4. The placement search (5 points)
#
# DistServe section 4 picks, with a simulator, how many prefill and decode instances to run and
# the tensor parallelism of each. Do it exhaustively: `search_placement(devices, rate_of,
# tps=(1, 2, 4, 8))` tries **every** placement that uses **exactly** `devices` devices, at least
# one instance of each phase, the tp of each phase from `tps`; `rate_of(placement)` returns the
# rate (req/s) that placement sustains (it stands in for the reference's simulator arguments: here
# `lab_max_rate`, `front_end_rate` or `balanced_rate`). A placement is a dict with the keys
# `prefill`, `prefill_tp`, `decode`, `decode_tp` (ints). Try them in this order: the prefill tp in
# `tps` order, then for each the decode tp in `tps` order, then the number of prefill instances
# from 1 up.
#
# Return, as the reference does, a dict with `devices`, `candidates` (every placement tried, in
# that order, each with its `goodput_per_device` added: a float, from your `goodput_per_device`),
# `best` (the candidate of highest goodput per device, **the first one** on a tie) and
# `goodput_per_device` (the best's). Raise `ValueError` if no placement uses exactly `devices`.
# Leave `tps` as it was.

# %% kind="solution" id="search"
def search_placement(devices: int, rate_of, tps=(1, 2, 4, 8)) -> dict:
    ### BEGIN SOLUTION
    tried = []
    for tp_p in tps:
        for tp_d in tps:
            for n_p in range(1, devices // tp_p + 1):
                rest = devices - n_p * tp_p
                if rest < tp_d or rest % tp_d:
                    continue
                p = {"prefill": n_p, "prefill_tp": tp_p, "decode": rest // tp_d, "decode_tp": tp_d}
                tried.append(dict(p, goodput_per_device=goodput_per_device(rate_of(p), devices)))
    if not tried:
        raise ValueError(f"no placement uses exactly {devices} devices with tp in {tps}")
    best = tried[0]
    for c in tried:
        if c["goodput_per_device"] > best["goodput_per_device"]:
            best = c
    return {"devices": devices, "best": best, "goodput_per_device": best["goodput_per_device"], "candidates": tried}
    ### END SOLUTION

# %% kind="test" id="test_search" points=5
_res = search_placement(4, lab_max_rate, [1])
_case = "search_placement(4, lab_max_rate, [1])"
assert type(_res) is dict and set(_res) == {"devices", "best", "goodput_per_device", "candidates"}, \
    f"{_case}: return a dict with devices, best, goodput_per_device and candidates, got {_res!r}"
_want = [{"prefill": n, "prefill_tp": 1, "decode": 4 - n, "decode_tp": 1} for n in (1, 2, 3)]
_got = [{k: c[k] for k in ("prefill", "prefill_tp", "decode", "decode_tp")} for c in _res["candidates"]]
assert _got == _want, f"{_case}: the candidates are {_got}, expected {_want} (1, 2, 3 prefill instances)"
_best = _res["best"]
assert type(_best) is dict and type(_best.get("goodput_per_device")) is float and _best == max(_res["candidates"], key=lambda c: c["goodput_per_device"]), \
    f"{_case}: best is {_best}, expected the candidate of highest goodput per device"
print(_best)
### BEGIN HIDDEN TESTS
from mlsys_kit.disagg.placement import placements as _placements


def _ref_search(devices, rate_of, tps=(1, 2, 4, 8)):
    """Every placement in the stated order (prefill tp, decode tp, prefill instances); the first best."""
    tried = []
    for n_p, tp_p, n_d, tp_d in _placements(devices, tps):
        p = {"prefill": n_p, "prefill_tp": tp_p, "decode": n_d, "decode_tp": tp_d}
        tried.append(dict(p, goodput_per_device=rate_of(p) / devices))
    if not tried:
        raise ValueError("no placement")
    best = max(tried, key=lambda c: c["goodput_per_device"])  # max keeps the first of equals
    return {"devices": devices, "best": best, "goodput_per_device": best["goodput_per_device"], "candidates": tried}


_rng = student_rng("search")
# fixed: tps in and out of order, a tp larger than what is left, tp = devices; and, with front_end_rate
# (every placement ties) on 8 devices and tps [3, 2, 1], the first placement in the stated order, (2, 3, 1, 2),
# is not the first one met by trying the prefill instances before the decode tp, (1, 3, 5, 1)
_cases = [(2, lab_max_rate, [1]), (4, lab_max_rate, [1, 2]), (6, lab_max_rate, [1, 2, 4]), (8, lab_max_rate, [1, 2, 4, 8]),
          (12, lab_max_rate, [1, 2, 4]), (5, lab_max_rate, [2, 4]), (5, lab_max_rate, [1, 2]), (5, lab_max_rate, [2, 1]),
          (7, lab_max_rate, [4, 2, 1]), (24, lab_max_rate, [16, 8]), (3, lab_max_rate, [2, 1]), (8, front_end_rate, [3, 2, 1]),
          (8, front_end_rate, [1, 2, 4, 8]), (9, balanced_rate, [3, 1]), (12, balanced_rate, [2, 4, 1, 3])]
for _ in range(6):  # drawn for this student: any devices, tps in any order, each stand-in
    _tps = _rng.sample([1, 2, 3, 4, 8], _rng.randint(1, 4))
    _cases.append((_rng.randint(2, 20), _rng.choice([lab_max_rate, front_end_rate, balanced_rate]), _tps))
_ok = [c for c in _cases if _placements(c[0], c[2])]
same_as_reference(search_placement, _ref_search, _ok, rel=1e-12)
# tps left to its default
same_as_reference(search_placement, _ref_search, [(8, lab_max_rate), (6, front_end_rate), ((9,), {"rate_of": balanced_rate})],
                  rel=1e-12)
# no placement uses exactly these devices: ValueError
for _n, _tps in ((8, [8]), (1, [1, 2]), (3, [2])):
    try:
        search_placement(_n, lab_max_rate, _tps)
        raise AssertionError(f"search_placement({_n}, lab_max_rate, {_tps}): no placement uses exactly {_n} devices: "
                             "raise ValueError")
    except ValueError:
        pass
# tensor parallelism matters here: with 8 devices, some tp=2 placement beats every tp=1 one
assert search_placement(8, lab_max_rate, [1, 2])["goodput_per_device"] > search_placement(8, lab_max_rate, [1])["goodput_per_device"]
### END HIDDEN TESTS

# %% [markdown] id="md-design"
# ## 5. Design question: when does disaggregation stop paying off? (4 points)
#
# Disaggregation removes the interference between prefill and decode, but every request now
# pays a transfer inside its TTFT budget. `slowest_link_gbps(cfg, prompt_len, ttft_slo,
# prefill_seconds)`: the slowest link (Gbit/s, no latency) on which a request whose prefill takes
# `prefill_seconds` still meets `ttft_slo` with its `prompt_len`-token KV moved, queueing aside;
# `float("inf")` when the prefill alone uses the whole budget (no link is fast enough). (1 point.)

# %% kind="solution" id="design"
def slowest_link_gbps(cfg: dict, prompt_len: int, ttft_slo: float, prefill_seconds: float) -> float:
    ### BEGIN SOLUTION
    budget = ttft_slo - prefill_seconds
    if budget <= 0:
        return float("inf")
    return float(kv_bytes_per_token(cfg) * prompt_len * 8 / (budget * 1e9))
    ### END SOLUTION

# %% kind="test" id="test_design" points=1
_case = "slowest_link_gbps(OPT_13B, 1000 tokens, TTFT SLO 0.25 s, prefill 0.15 s)"
_l = slowest_link_gbps(OPT_13B, 1000, 0.25, 0.15)
assert type(_l) is float, f"{_case}: return a float, got a {type(_l).__name__} ({_l!r})"
assert math.isclose(_l, 819_200 * 1000 * 8 / 0.1e9), \
    f"{_case} is {_l}, expected 819200 x 1000 bytes x 8 bits in the 0.1 s left = {819_200 * 1000 * 8 / 0.1e9} Gbit/s"
### BEGIN HIDDEN TESTS
assert slowest_link_gbps(OPT_13B, 1000, 0.25, 0.25) == float("inf")
assert slowest_link_gbps(OPT_13B, 10, 0.25, 0.3) == float("inf")
assert math.isclose(slowest_link_gbps(LLAMA2_70B, 2000, 2.5, 0.5), 327_680 * 2000 * 8 / 2e9)


def _ref_link(cfg, p, slo, pre):
    return float("inf") if slo <= pre else 2 * cfg["layers"] * cfg["kv_heads"] * cfg["head_dim"] * cfg["dtype_bytes"] * p * 8 / ((slo - pre) * 1e9)


_rng = student_rng("design")
_cases = []
for _ in range(30):
    _cfg = {"layers": _rng.randint(1, 80), "heads": 8, "kv_heads": _rng.choice([1, 8]), "head_dim": _rng.choice([64, 128]),
            "dtype_bytes": _rng.choice([1, 2, 4])}
    _slo, _pre = _rng.uniform(0.05, 3.0), _rng.uniform(0.0, 3.0)
    _cases.append((_cfg, _rng.randint(1, 4000), _slo, _rng.choice([_pre, _slo, 0.0])))
same_as_reference(slowest_link_gbps, _ref_link, _cases, rel=1e-12)
### END HIDDEN TESTS

# %% [markdown] id="md-answer-25gbe"
# Then set `ANSWER_25GBE` to whether 25 Gbit/s Ethernet is enough for OPT-13B, 1,000-token prompts,
# a 0.15 s prefill and a 0.25 s TTFT objective (a `bool`, computed with your function). (1 point,
# autograded.)
#
# Then answer in the cell at the end of this section, in a few sentences (2 points, graded by hand):
# **name a second situation in which colocated serving on the same devices beats the best
# disaggregated split, and say why.** Hint: compare a prefill's duration with the TPOT objective,
# and count how many devices each design lets prefill use.

# %% kind="solution" id="answer_25gbe"
### BEGIN SOLUTION
ANSWER_25GBE = slowest_link_gbps(OPT_13B, 1000, 0.25, 0.15) <= 25.0
### END SOLUTION
print(ANSWER_25GBE)

# %% kind="test" id="test_answer_25gbe" points=1
try:
    _answer = ANSWER_25GBE
except NameError:
    raise AssertionError("ANSWER_25GBE is not set: run the cell above that sets it (with your slowest_link_gbps) first") from None
assert type(_answer) is bool, f"ANSWER_25GBE should be a bool (True or False), got a {type(_answer).__name__} ({_answer!r})"
### BEGIN HIDDEN TESTS
assert _answer is False  # it needs 65.5 Gbit/s
### END HIDDEN TESTS

# %% [markdown] kind="answer" id="q_colocate_why" points=2
# When prefills are short compared with the TPOT objective (short prompts, or a loose TPOT, e.g.
# a 20 ms prefill against a 100 ms TPOT) and the load is prefill-heavy (long prompts relative to
# the answers). Then interference costs little: a colocated engine can slip a prefill between two
# decode steps and every running request still gets its next token within the TPOT objective, so
# disaggregation removes a cost that was hardly there. What it adds is real: a split must
# dedicate devices to each phase, so only the `prefill x prefill_tp` devices of the split can run
# prompts, whereas a colocated engine runs prefill on all N devices (and decode too); each phase
# also loses the other's idle capacity (a prefill device waits when no prompt arrives, a decode
# device when few requests are running). With few devices the split is also coarse (2 devices:
# one of each, whatever the ratio of work). So the colocated system serves a higher rate within
# both SLOs: a higher goodput per device, and no KV transfer inside the TTFT either.

# %% [markdown] kind="rubric" id="q_colocate_why_rubric"
# Rubric (2 points):
#
# * 1 point: the situation. Interference is small because a prefill is short compared with the
#   TPOT objective (short prompts or a loose TPOT), so colocated serving meets the TPOT anyway;
#   or an equivalent situation with the reason (a prefill-heavy load, very few devices).
# * 1 point: why colocation then wins: all N devices can run prefill (and decode) instead of a
#   fixed share of them, with no capacity idle in one phase while the other is busy, and no
#   transfer in the TTFT: higher goodput per device. Half a point if only the transfer is named.
# * Typical wrong answer: "when the link is slow" (that is the first situation, which the
#   autograded part already covers), or "colocated is always cheaper" with no condition.
