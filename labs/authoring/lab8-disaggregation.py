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
# 3. SLO attainment and DistServe's goodput per device;
# 4. the placement search: how to split N devices into prefill and decode instances;
# 5. when disaggregation stops paying off: the slowest link a TTFT budget allows.
#
# Reading: DistServe (Zhong et al., OSDI'24), sections 2 (goodput, interference), 3 (the cost
# of each phase and of the transfer) and 4 (placement, Algorithm 1); Mooncake (Qin et al.,
# FAST'25), section 7 (early rejection). The reference is `mlsys-kit serve disagg` / `serve place`.
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

# %% [markdown] id="md-kv"
# ## 1. What moves, and how long it takes (3 points)
#
# `kv_bytes(cfg, tokens)`: the bytes of the K and V vectors of `tokens` tokens, over all layers and
# KV heads (OPT-13B in fp16: 800 KB per token). `transfer_seconds(nbytes, gbps, latency)`: the time
# to move `nbytes` bytes over a link of `gbps` gigabits per second (1 Gbit = 1e9 bits) with a fixed
# `latency` in seconds per transfer. Both return plain numbers (`int` and `float`).

# %% kind="solution" id="kv_bytes"
def kv_bytes(cfg: dict, tokens: int) -> int:
    ### BEGIN SOLUTION
    return 2 * cfg["layers"] * cfg["kv_heads"] * cfg["head_dim"] * cfg["dtype_bytes"] * tokens
    ### END SOLUTION


def transfer_seconds(nbytes: int, gbps: float, latency: float) -> float:
    ### BEGIN SOLUTION
    return float(latency + nbytes * 8 / (gbps * 1e9))
    ### END SOLUTION

# %% kind="test" id="test_kv_bytes" points=3
assert type(kv_bytes(OPT_13B, 1)) is int, "return an int"
assert kv_bytes(OPT_13B, 1) == 819_200
assert type(transfer_seconds(10**9, 8.0, 0.5)) is float, "return a float"
assert math.isclose(transfer_seconds(10**9, 8.0, 0.5), 1.5)
### BEGIN HIDDEN TESTS
from mlsys_kit.models import costs as _costs
_ref70 = _costs.kv_bytes_per_token(_costs.preset("llama2-70b"))
assert kv_bytes(LLAMA2_70B, 1) == _ref70 == 327_680, "grouped-query attention stores K/V per KV head"
assert kv_bytes(LLAMA2_70B, 1000) == 1000 * _ref70
assert kv_bytes(OPT_13B, 512) == 512 * _costs.kv_bytes_per_token(_costs.preset("opt-13b"))
assert kv_bytes({"layers": 3, "heads": 8, "kv_heads": 2, "head_dim": 8, "dtype_bytes": 4}, 5) == 2 * 3 * 2 * 8 * 4 * 5
assert math.isclose(transfer_seconds(819_200 * 1000, 100.0, 0.0), 819_200 * 1000 * 8 / 1e11)
assert math.isclose(transfer_seconds(0, 1.0, 0.002), 0.002)
assert math.isclose(transfer_seconds(123, 0.5, 0.25), 0.25 + 123 * 8 / 5e8)
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
# `first_token_times(requests, prefill_end, lane, kv_per_token, gbps, latency)`: `requests` is a
# list of dicts with `arrival`, `prompt_len`, `output_len`; `prefill_end[i]` is when request i's
# prefill finished and `lane[i]` its prefill instance. Return the list of TTFTs (seconds from
# arrival), one float per request, in input order. The whole prompt's KV moves.

# %% kind="solution" id="ttft"
def first_token_times(requests: list, prefill_end: list, lane: list, kv_per_token: int, gbps: float,
                      latency: float) -> list:
    ### BEGIN SOLUTION
    ttft = [0.0] * len(requests)
    free = {}
    for i in sorted(range(len(requests)), key=lambda i: (prefill_end[i], i)):
        r = requests[i]
        done = prefill_end[i]
        if r["output_len"] > 1:
            start = max(done, free.get(lane[i], 0.0))
            done = start + transfer_seconds(r["prompt_len"] * kv_per_token, gbps, latency)
            free[lane[i]] = done
        ttft[i] = float(done - r["arrival"])
    return ttft
    ### END SOLUTION

# %% kind="test" id="test_ttft" points=4
_reqs = [{"arrival": 0.0, "prompt_len": 1000, "output_len": 10}]
_t = first_token_times(_reqs, [0.2], [0], 1000, 8.0, 0.0)
assert type(_t) is list and len(_t) == 1 and type(_t[0]) is float, "return a list of floats"
assert math.isclose(_t[0], 0.2 + 0.001), _t
### BEGIN HIDDEN TESTS
import random as _random
# two requests on one link: the second waits for the first transfer
_r2 = [{"arrival": 0.0, "prompt_len": 1000, "output_len": 5}, {"arrival": 0.05, "prompt_len": 1000, "output_len": 5}]
_got = first_token_times(_r2, [0.1, 0.1005], [0, 0], 1_000_000, 8.0, 0.0)  # 1 s per transfer
assert math.isclose(_got[0], 1.1) and math.isclose(_got[1], 2.1 - 0.05), _got
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


_rng = _random.Random(8)
for _ in range(60):
    n = _rng.randint(1, 25)
    arr = sorted(_rng.uniform(0, 5) for _ in range(n))
    reqs = [{"arrival": a, "prompt_len": _rng.randint(1, 2000), "output_len": _rng.randint(1, 30)} for a in arr]
    pe = [a + _rng.uniform(0.01, 2.0) for a in arr]
    lane = [_rng.randrange(3) for _ in range(n)]
    kv, gbps, lat = _rng.choice([512, 819_200]), _rng.choice([1.0, 25.0, 100.0]), _rng.choice([0.0, 0.001])
    got = first_token_times(reqs, pe, lane, kv, gbps, lat)
    want = _ref_ttft(reqs, pe, lane, kv, gbps, lat)
    assert type(got) is list and all(type(x) is float for x in got)
    assert all(math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-12) for g, w in zip(got, want)), (reqs, pe, lane)
### END HIDDEN TESTS

# %% [markdown] id="md-attain"
# ## 3. SLO attainment and goodput per device (5 points)
#
# `slo_attainment(records, ttft_slo, tpot_slo)`: each record is a dict with `finished` (bool),
# `ttft` and `tpot` (seconds; `tpot` is None for a one-token answer, which has no later tokens). A
# request meets its SLOs when it finished, its TTFT is `<= ttft_slo` **and** its TPOT is
# `<= tpot_slo`. Attainment is the fraction of **all** requests that meet them: a request
# rejected under overload (Mooncake's early rejection) or never finished is a miss. An empty
# `records` has no attainment: raise `ValueError`.
#
# `goodput_per_device(points, placement, target=0.9)`: DistServe's goodput is the highest request
# rate a system sustains with attainment `>= target`; `points` is a sweep, a list of
# `(rate, attainment)` pairs in any order. Walk up the rates and stop at the first one that
# fails: the goodput is the last rate that passed (0.0 if the lowest fails). DistServe compares
# systems by goodput **per device**: divide by the devices the placement uses,
# `prefill * prefill_tp + decode * decode_tp` (a placement is a dict with those four keys).

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


def goodput_per_device(points: list, placement: dict, target: float = 0.9) -> float:
    ### BEGIN SOLUTION
    best = 0.0
    for rate, attained in sorted(points):
        if attained < target:
            break
        best = rate
    devices = placement["prefill"] * placement["prefill_tp"] + placement["decode"] * placement["decode_tp"]
    return float(best / devices)
    ### END SOLUTION

# %% kind="test" id="test_goodput" points=5
_recs = [{"finished": True, "ttft": 0.1, "tpot": 0.05}, {"finished": True, "ttft": 0.5, "tpot": 0.05}]
assert type(slo_attainment(_recs, 0.25, 0.1)) is float, "return a float"
assert slo_attainment(_recs, 0.25, 0.1) == 0.5
_p = {"prefill": 2, "prefill_tp": 1, "decode": 1, "decode_tp": 1}
assert type(goodput_per_device([(3.0, 0.95), (6.0, 0.5)], _p)) is float, "return a float"
assert math.isclose(goodput_per_device([(3.0, 0.95), (6.0, 0.5)], _p), 1.0)
### BEGIN HIDDEN TESTS
# the rejected and the unfinished are misses: attainment is over all requests
_recs = [{"finished": True, "ttft": 0.1, "tpot": 0.01}, {"finished": False, "ttft": None, "tpot": None},
         {"finished": True, "ttft": 0.1, "tpot": None}, {"finished": True, "ttft": 0.1, "tpot": 0.2}]
assert slo_attainment(_recs, 0.25, 0.1) == 0.5
assert slo_attainment([{"finished": True, "ttft": 0.25, "tpot": 0.1}], 0.25, 0.1) == 1.0  # at the SLO: met
assert slo_attainment([{"finished": True, "ttft": 0.3, "tpot": 0.01}], 0.25, 0.1) == 0.0  # both must hold
assert slo_attainment([{"finished": True, "ttft": 0.01, "tpot": 0.3}], 0.25, 0.1) == 0.0
try:
    slo_attainment([], 0.25, 0.1)
    raise AssertionError("an empty list of records must raise ValueError")
except ValueError:
    pass
_rng = _random.Random(9)
for _ in range(100):
    recs = [{"finished": _rng.random() < 0.8, "ttft": _rng.uniform(0, 1), "tpot": _rng.choice([None, _rng.uniform(0, 0.2)])}
            for _ in range(_rng.randint(1, 30))]
    t1, t2 = _rng.uniform(0, 1), _rng.uniform(0, 0.2)
    want = sum(r["finished"] and r["ttft"] <= t1 and (r["tpot"] is None or r["tpot"] <= t2) for r in recs) / len(recs)
    assert math.isclose(slo_attainment(recs, t1, t2), want)
# per device, not per instance: tp=2 instances use two devices each
_p = {"prefill": 1, "prefill_tp": 2, "decode": 1, "decode_tp": 2}
assert math.isclose(goodput_per_device([(8.0, 0.99)], _p), 2.0)
# stop at the first failing rate, even if a higher one passes again (noise in a sweep)
_p1 = {"prefill": 1, "prefill_tp": 1, "decode": 1, "decode_tp": 1}
assert math.isclose(goodput_per_device([(6.0, 0.95), (2.0, 1.0), (4.0, 0.85)], _p1), 1.0)
assert goodput_per_device([(1.0, 0.5), (2.0, 0.95)], _p1) == 0.0
assert math.isclose(goodput_per_device([(1.0, 0.9), (2.0, 0.89)], _p1), 0.5)  # >= target passes
assert math.isclose(goodput_per_device([(1.0, 0.8), (2.0, 0.8)], _p1, target=0.75), 1.0)
### END HIDDEN TESTS

# %% [markdown] id="md-search"
# ## 4. The placement search (5 points)
#
# DistServe section 4 picks, with a simulator, how many prefill and decode instances to run and
# the tensor parallelism of each. Do it exhaustively: `search_placement(devices, tps, rate_of)`
# tries **every** placement that uses **exactly** `devices` devices, at least one instance of each
# phase, tp of each phase from `tps`; `rate_of(placement)` returns the rate (req/s) that placement
# sustains (here `lab_max_rate`, a stand-in for the simulator). Return the best placement by
# goodput per device: a dict with the four placement keys (ints) and `goodput_per_device` (a
# float); `None` if no placement uses exactly `devices`. Ties: try the prefill tp in `tps` order,
# then for each the decode tp in `tps` order, then the number of prefill instances from 1 up,
# and keep the first best placement.

# %% kind="solution" id="search"
def search_placement(devices: int, tps: list, rate_of) -> dict:
    ### BEGIN SOLUTION
    best = None
    for tp_p in tps:
        for tp_d in tps:
            for n_p in range(1, devices // tp_p + 1):
                rest = devices - n_p * tp_p
                if rest < tp_d or rest % tp_d:
                    continue
                p = {"prefill": n_p, "prefill_tp": tp_p, "decode": rest // tp_d, "decode_tp": tp_d}
                g = float(rate_of(p) / devices)
                if best is None or g > best["goodput_per_device"]:
                    best = dict(p, goodput_per_device=g)
    return best
    ### END SOLUTION

# %% kind="test" id="test_search" points=5
_best = search_placement(4, [1], lab_max_rate)
assert type(_best) is dict and type(_best["goodput_per_device"]) is float, "return a dict with a float goodput"
assert _best["prefill"] * _best["prefill_tp"] + _best["decode"] * _best["decode_tp"] == 4
print(_best)
### BEGIN HIDDEN TESTS
from mlsys_kit.disagg.placement import placements as _placements


def _keys(p):
    return {"prefill": p[0], "prefill_tp": p[1], "decode": p[2], "decode_tp": p[3]}


def _ref_search(n, tps):
    """The first best placement in the stated order (prefill tp, decode tp, prefill instances)."""
    best = None
    for p in sorted(_placements(n, tps), key=lambda p: (tps.index(p[1]), tps.index(p[3]), p[0])):
        g = lab_max_rate(_keys(p)) / n
        if best is None or g > best["goodput_per_device"]:
            best = dict(_keys(p), goodput_per_device=g)
    return best


for _n, _tps in ((2, [1]), (4, [1]), (4, [1, 2]), (6, [1, 2, 4]), (8, [1, 2, 4, 8]), (12, [1, 2, 4]), (5, [2, 4]),
                 (5, [1, 2]), (5, [2, 1]), (7, [4, 2, 1]), (8, [8]), (24, [16, 8]), (3, [2, 1])):
    _cands = [_keys(p) for p in _placements(_n, _tps)]
    _got = search_placement(_n, _tps, lab_max_rate)
    if not _cands:
        assert _got is None, (_n, _tps, "no placement uses exactly these devices: None", _got)
        continue
    _want = max(lab_max_rate(p) / _n for p in _cands)
    assert type(_got) is dict and math.isclose(_got["goodput_per_device"], _want), (_n, _tps, _got, _want)
    assert all(type(_got[k]) is int for k in ("prefill", "prefill_tp", "decode", "decode_tp")), ("ints", _got)
    assert type(_got["goodput_per_device"]) is float and _got == _ref_search(_n, _tps), \
        ("on a tie, the first in the stated order", _n, _tps, _got, _ref_search(_n, _tps))
    _used = _got["prefill"] * _got["prefill_tp"] + _got["decode"] * _got["decode_tp"]
    assert _used == _n and _got["prefill_tp"] in _tps and _got["decode_tp"] in _tps
    assert math.isclose(lab_max_rate({k: _got[k] for k in ("prefill", "prefill_tp", "decode", "decode_tp")}) / _n,
                        _got["goodput_per_device"])
# tensor parallelism matters here: with 8 devices, some tp=2 placement beats every tp=1 one
assert search_placement(8, [1, 2], lab_max_rate)["goodput_per_device"] > \
    search_placement(8, [1], lab_max_rate)["goodput_per_device"]
### END HIDDEN TESTS

# %% [markdown] id="md-design"
# ## 5. Design question: when does disaggregation stop paying off? (4 points)
#
# Disaggregation removes the interference between prefill and decode, but every request now
# pays a transfer inside its TTFT budget. `slowest_link_gbps(cfg, prompt_len, ttft_slo,
# prefill_seconds)`: the slowest link (Gbit/s, no latency) on which a request whose prefill takes
# `prefill_seconds` still meets `ttft_slo` with its `prompt_len`-token KV moved, queueing aside;
# `float("inf")` when the prefill alone uses the whole budget (no link is fast enough). Then set
# `ANSWER_25GBE` to whether 25 Gbit/s Ethernet is enough for OPT-13B, 1,000-token prompts, a
# 0.15 s prefill and a 0.25 s TTFT objective (a `bool`, computed with your function). (2 points,
# autograded.)
#
# Then answer in the cell at the end of this section, in a few sentences (2 points, graded by hand):
# **name a second situation in which colocated serving on the same devices beats the best
# disaggregated split, and say why.** Hint: compare a prefill's duration with the TPOT objective,
# and count how many devices each design lets prefill use.

# %% kind="solution" id="design"
def slowest_link_gbps(cfg: dict, prompt_len: int, ttft_slo: float, prefill_seconds: float) -> float:
    ### BEGIN SOLUTION
    budget = ttft_slo - prefill_seconds
    if budget <= 0:
        return float("inf")
    return float(kv_bytes(cfg, prompt_len) * 8 / (budget * 1e9))
    ### END SOLUTION


### BEGIN SOLUTION
ANSWER_25GBE = slowest_link_gbps(OPT_13B, 1000, 0.25, 0.15) <= 25.0
### END SOLUTION
print(ANSWER_25GBE)

# %% kind="test" id="test_design" points=2
assert type(slowest_link_gbps(OPT_13B, 1000, 0.25, 0.15)) is float, "return a float"
assert math.isclose(slowest_link_gbps(OPT_13B, 1000, 0.25, 0.15), 819_200 * 1000 * 8 / 0.1e9)
### BEGIN HIDDEN TESTS
assert type(ANSWER_25GBE) is bool and ANSWER_25GBE is False  # it needs 65.5 Gbit/s
assert slowest_link_gbps(OPT_13B, 1000, 0.25, 0.25) == float("inf")
assert slowest_link_gbps(OPT_13B, 10, 0.25, 0.3) == float("inf")
assert math.isclose(slowest_link_gbps(LLAMA2_70B, 2000, 2.5, 0.5), 327_680 * 2000 * 8 / 2e9)
_rng = _random.Random(10)
for _ in range(50):
    cfg = {"layers": _rng.randint(1, 80), "heads": 8, "kv_heads": _rng.choice([1, 8]), "head_dim": 64,
           "dtype_bytes": _rng.choice([1, 2, 4])}
    p, slo, pre = _rng.randint(1, 4000), _rng.uniform(0.05, 3.0), _rng.uniform(0.0, 3.0)
    want = float("inf") if slo <= pre else 2 * cfg["layers"] * cfg["kv_heads"] * 64 * cfg["dtype_bytes"] * p * 8 / ((slo - pre) * 1e9)
    got = slowest_link_gbps(cfg, p, slo, pre)
    assert got == want or math.isclose(got, want), (cfg, p, slo, pre)
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
