"""The disaggregated simulator: closed-form timings, invariants on random traces, agreement
with the colocated engine where the two must agree, SLO attainment and goodput."""

import pytest
from hypothesis import given, settings, strategies as st

from mlsys_kit.disagg.simulate import (Hardware, ImportBackend, Link, Pool, run_pool,
                                      simulate_colocated, simulate_disagg, slo_attainment, summarize_disagg,
                                      transfer_aware_ttft)
from mlsys_kit.serving.simulator import CostModel
from mlsys_kit.serving.workload import LengthDist, Request, make_workload

COST = CostModel(a=0.01, b=1e-4, c=2e-4, d=1e-6)
HW = Hardware(COST, kv_bytes_per_token=1000, device_kv_bytes=16e6, block_size=16)


def test_link_prices_bytes_over_bandwidth_plus_latency():
    assert Link(8.0, 0.5).seconds(10**9) == pytest.approx(0.5 + 1.0)  # 1 GB over 8 Gbit/s = 1 s
    assert Link(None, 0.25).seconds(10**12) == 0.25
    for bad in (dict(gbps=0), dict(gbps=-1.0), dict(latency=-0.1), dict(gbps=float("inf"))):
        with pytest.raises(ValueError, match="link"):
            Link(**bad)


def test_one_request_matches_the_closed_form():
    """Prefill a + (b + d) P, transfer P * kv * 8 / bw, then decodes of growing context."""
    P, O, gbps = 100, 5, 0.8
    req = [Request(0, 1.0, P, O)]
    res = simulate_disagg(req, Pool(), Pool(scheduler="continuous"), Link(gbps), HW)
    prefill = COST.a + COST.b * P + COST.d * P
    transfer = P * 1000 * 8 / (gbps * 1e9)
    assert res.prefill_end[0] == pytest.approx(1.0 + prefill)
    assert res.transfer_end[0] == pytest.approx(1.0 + prefill + transfer)
    s = res.seqs[0]
    assert s.first_token_time - s.arrival == pytest.approx(transfer_aware_ttft(1.0, 1.0 + prefill, transfer))
    # the decode side: token k+1 (k = 1..O-1) costs a + c + d * (P + k), no prefill compute
    decode = sum(COST.a + COST.c + COST.d * (P + k) for k in range(1, O))
    assert s.finish_time == pytest.approx(1.0 + prefill + transfer + decode)
    assert res.kv_bytes_moved == P * 1000


def test_one_output_token_finishes_at_the_prefill_and_moves_nothing():
    res = simulate_disagg([Request(0, 0.0, 40, 1)], Pool(), Pool(), Link(1.0), HW)
    assert res.kv_bytes_moved == 0 and res.transfer_end == [None]
    assert res.seqs[0].finish_time == res.seqs[0].first_token_time == res.prefill_end[0]


@given(st.integers(1, 3), st.integers(0, 10_000))
def test_prefill_only_equals_the_colocated_engine(instances, seed):
    """With one output token per request nothing decodes: disaggregated serving is its prefill
    pool, so every TTFT equals colocated serving's with the same scheduler and instances."""
    reqs = make_workload(30, 20.0, LengthDist("uniform", 64, 1, 200), LengthDist("fixed", 1), seed=seed)
    dis = simulate_disagg(reqs, Pool(instances), Pool(), Link(None), HW)
    col = simulate_colocated(reqs, Pool(instances), HW)
    assert [s.first_token_time for s in dis.seqs] == [s.first_token_time for s in col.seqs]


def test_import_backend_prices_only_the_decode():
    backend = ImportBackend(COST, 64, 16)
    from mlsys_kit.serving.sequence import Seq

    seq = Seq(Request(0, 0.0, 33, 4), with_tokens=False)  # 32 prompt tokens + token 1 imported
    seconds, _ = backend.execute([(seq, 33)], 33, 0, 33)
    assert seconds == pytest.approx(COST.a + COST.c + COST.d * 33)


@settings(max_examples=25)
@given(n=st.integers(1, 40), rate=st.floats(1.0, 200.0), n_p=st.integers(1, 3), n_d=st.integers(1, 3),
       gbps=st.one_of(st.none(), st.floats(0.01, 100.0)), latency=st.floats(0.0, 0.05),
       sched=st.sampled_from(["continuous", "vllm", "chunked"]), seed=st.integers(0, 999))
def test_invariants_on_random_traces(n, rate, n_p, n_d, gbps, latency, sched, seed):
    reqs = make_workload(n, rate, LengthDist("uniform", 64, 1, 300), LengthDist("uniform", 8, 1, 40), seed=seed)
    link = Link(gbps, latency)
    res = simulate_disagg(reqs, Pool(n_p), Pool(n_d, scheduler=sched, token_budget=256), link, HW)
    assert res.devices == n_p + n_d
    assert res.kv_bytes_moved == sum(r.prompt_len * 1000 for r in reqs if r.output_len > 1)
    for i, (r, s) in enumerate(zip(reqs, res.seqs)):
        assert s.finish_time is not None and s.num_generated == r.output_len
        assert res.prefill_end[i] >= r.arrival + COST.a + COST.b * r.prompt_len - 1e-12
        if r.output_len > 1:
            wire = link.seconds(r.prompt_len * 1000)
            assert res.transfer_end[i] >= res.prefill_end[i] + wire - 1e-9
            assert s.first_token_time == res.transfer_end[i]  # TTFT includes the transfer
            assert s.last_token_time >= s.first_token_time + (r.output_len - 1) * COST.a - 1e-9
        assert s.finish_time >= s.first_token_time
    # one link per prefill instance carries one transfer at a time
    lanes = {}
    order = sorted(range(n), key=lambda i: (reqs[i].arrival, i))
    for k, i in enumerate(order):
        if reqs[i].output_len > 1:
            end = res.transfer_end[i]
            lanes.setdefault(k % n_p, []).append((end - link.seconds(reqs[i].prompt_len * 1000), end))
    for spans in lanes.values():
        spans.sort()
        assert all(a[1] <= b[0] + 1e-9 for a, b in zip(spans, spans[1:]))


@settings(max_examples=15)
@given(seed=st.integers(0, 999), slow=st.floats(0.05, 5.0))
def test_a_slower_link_never_makes_a_first_token_earlier(seed, slow):
    reqs = make_workload(30, 30.0, LengthDist("uniform", 64, 1, 300), LengthDist("uniform", 8, 2, 40), seed=seed)
    fast = simulate_disagg(reqs, Pool(2), Pool(), Link(slow * 4), HW)
    slower = simulate_disagg(reqs, Pool(2), Pool(), Link(slow), HW)
    assert all(b.first_token_time >= a.first_token_time - 1e-12 for a, b in zip(fast.seqs, slower.seqs))


@settings(max_examples=15)
@given(seed=st.integers(0, 999), t1=st.floats(0.01, 1.0), t2=st.floats(0.001, 0.05), k=st.floats(1.0, 3.0))
def test_attainment_is_a_fraction_of_all_requests_and_grows_with_looser_slos(seed, t1, t2, k):
    reqs = make_workload(40, 40.0, LengthDist("uniform", 64, 1, 300), LengthDist("uniform", 8, 1, 40), seed=seed)
    res = simulate_disagg(reqs, Pool(), Pool(), Link(1.0), HW)
    a, b = slo_attainment(res.seqs, t1, t2), slo_attainment(res.seqs, t1 * k, t2 * k)
    assert 0 <= a <= b <= 1
    manual = sum((s.first_token_time - s.arrival <= t1) and (s.output_len == 1 or (
        s.last_token_time - s.first_token_time) / (s.output_len - 1) <= t2) for s in res.seqs) / len(reqs)
    assert a == pytest.approx(manual)


def test_unfinished_requests_count_as_misses():
    reqs = make_workload(10, 5.0, seed=1)
    res = simulate_disagg(reqs, Pool(), Pool(), Link(None), HW)
    full = slo_attainment(res.seqs, 100.0, 100.0)
    res.seqs[0].finish_time = None  # e.g. rejected
    assert full == 1.0 and slo_attainment(res.seqs, 100.0, 100.0) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="at least one"):
        slo_attainment([], 1.0, 1.0)


def test_summary_keys_and_tensor_parallel_pools():
    reqs = make_workload(60, 20.0, seed=2)
    d1 = summarize_disagg(simulate_disagg(reqs, Pool(1), Pool(1), Link(10.0), HW), 1.0, 0.1)
    d2 = summarize_disagg(simulate_disagg(reqs, Pool(1, tp=2), Pool(1, tp=2), Link(10.0), HW), 1.0, 0.1)
    for k in ("attainment", "ttft_p50", "ttft_p99", "tpot_p50", "tpot_p99", "kv_bytes_moved", "devices"):
        assert k in d1
    assert d2["devices"] == 4 and d1["devices"] == 2
    assert d2["tpot_p50"] < d1["tpot_p50"]  # tp=2 instances run every iteration faster
    assert HW.speedup(2) == pytest.approx(1.8) and HW.speedup(1) == 1
    assert HW.blocks_at(2) > 2 * HW.blocks_at(1) - 1


def test_bad_input_is_rejected_with_the_allowed_values():
    with pytest.raises(ValueError, match="scheduler must be one of"):
        Pool(scheduler="fifo")
    with pytest.raises(ValueError, match="instances must be a positive integer"):
        Pool(0)
    with pytest.raises(ValueError, match="tp_efficiency"):
        Hardware(tp_efficiency=1.5)
    with pytest.raises(ValueError, match="cannot hold the model"):
        run_pool([Request(0, 0.0, 4, 2)], Pool(), Hardware(COST, 10**9, 1.0))
    with pytest.raises(ValueError, match="one entry per request"):
        simulate_disagg(make_workload(3, 1.0, seed=0), Pool(), Pool(), compute_tokens=[1])
    with pytest.raises(ValueError, match="sorted"):
        simulate_disagg([Request(0, 2.0, 4, 2), Request(1, 1.0, 4, 2)], Pool(), Pool())
