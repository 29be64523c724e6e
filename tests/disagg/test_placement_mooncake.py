"""Goodput search, the exhaustive placement search, the paper's motivating example, and
Mooncake's KV pool and early rejection."""

import itertools

import pytest
from hypothesis import given, strategies as st

from mlsys_kit.disagg.mooncake import REUSE_MODES, early_reject, plan_prefix_reuse, prefix_workload, simulate_mooncake
from mlsys_kit.disagg.placement import (chatbot_workload, colocated_goodput, disagg_goodput, goodput_per_device,
                                         max_rate, placements, roofline_hardware, search_placement)
from mlsys_kit.disagg.simulate import Hardware, Link, Pool, simulate_disagg, slo_attainment, summarize_disagg
from mlsys_kit.serving.sequence import SeqStatus
from mlsys_kit.serving.workload import LengthDist, make_workload

HW = roofline_hardware()


@given(st.floats(0.05, 500.0))
def test_max_rate_finds_the_threshold_of_a_falling_attainment(threshold):
    got = max_rate(lambda r: 1.0 if r <= threshold else 0.5, start=1.0, steps=20)
    assert got <= threshold and got == pytest.approx(threshold, rel=1e-4)


def test_max_rate_edges():
    assert max_rate(lambda r: 0.0) == 0.0
    with pytest.raises(ValueError, match="target"):
        max_rate(lambda r: 1.0, target=1.5)
    assert goodput_per_device(9.0, 3) == 3.0
    with pytest.raises(ValueError, match="devices"):
        goodput_per_device(1.0, 0)


@given(st.integers(1, 12))
def test_placements_are_every_split_of_exactly_n_devices(n):
    tps = (1, 2, 4)
    got = placements(n, tps)
    brute = [(a, tp, b, td) for tp, td in itertools.product(tps, tps) for a in range(1, n + 1) for b in range(1, n + 1)
             if a * tp + b * td == n]
    assert sorted(got) == sorted(brute) and len(set(got)) == len(got)


def test_roofline_hardware_follows_the_model_costs():
    from mlsys_kit.models import costs

    cfg = costs.preset("opt-13b")
    assert HW.kv_bytes_per_token == costs.kv_bytes_per_token(cfg) == 819_200  # 800 KB/token (vLLM 2.3)
    assert HW.cost.b == pytest.approx(2 * costs.matmul_params(cfg) / (312e12 * 0.6))
    assert HW.blocks_at(1) > 0
    assert roofline_hardware("llama2-70b", "a100-80gb").blocks_at(1) == 0  # 140 GB of weights need tp >= 2
    with pytest.raises(ValueError, match="device must be one of"):
        roofline_hardware(device="tpu")


def test_distserve_motivating_example_two_prefill_one_decode():
    """DistServe section 2.3 / Figure 1 (13B model, A100, 512-token prompts, 64-token answers,
    TTFT 0.4 s and TPOT 0.04 s at 90 %): colocated 1.6 req/s per GPU, 2 prefill + 1 decode
    3.3 req/s per GPU, 2.1x. The roofline simulator lands near that ratio (pinned in
    docs/disaggregation.md)."""
    wl = lambda r: make_workload(300, r, LengthDist("fixed", 512), LengthDist("fixed", 64), seed=0)  # noqa: E731
    col = colocated_goodput(Pool(1), HW, 0.4, 0.04, wl)
    dis = disagg_goodput(Pool(2), Pool(1, scheduler="continuous"), HW, Link(None), 0.4, 0.04, wl)
    assert 1.6 <= dis / col <= 2.6, (col, dis)


def test_search_finds_the_best_placement_and_reports_colocated_beside_it():
    wl = lambda r: make_workload(120, r, LengthDist("fixed", 512), LengthDist("fixed", 64), seed=0)  # noqa: E731
    out = search_placement(3, HW, Link(None), 0.4, 0.04, wl, tps=(1,), colocated=("vllm",))
    assert {(c["prefill"], c["decode"]) for c in out["candidates"]} == {(1, 2), (2, 1)}
    assert out["goodput_per_device"] == max(c["goodput_per_device"] for c in out["candidates"])
    assert out["best"]["prefill"] == 2  # prefill is this workload's bottleneck
    assert out["colocated"]["scheduler"] == "vllm" and out["ratio"] > 1
    with pytest.raises(ValueError, match="no placement"):
        search_placement(1, HW, Link(None), 0.4, 0.04, wl)


def test_prefix_reuse_counts_and_ordering():
    reqs, ids = prefix_workload(200, 4.0, prefixes=6, prefix_len=512, seed=1)
    total = sum(r.prompt_len for r in reqs)
    plans = {m: plan_prefix_reuse(reqs, ids, 512, 3, m, HW, Link(100.0)) for m in REUSE_MODES}
    for m, p in plans.items():
        assert p["tokens_recomputed"] + p["tokens_reused_local"] + p["tokens_transferred_from_pool"] == total, m
        assert all(c >= 1 for c in p["compute_tokens"])
    assert plans["none"]["tokens_recomputed"] == total
    assert plans["pool"]["tokens_recomputed"] < plans["local"]["tokens_recomputed"] < total
    # the pool fetched at most one cold miss per prefix; every other first visit came over the link
    assert plans["pool"]["tokens_recomputed"] <= total - sum(
        512 for i in range(len(reqs)) if ids[i] in ids[:i])
    assert plans["pool"]["pool_bytes_transferred"] == plans["pool"]["tokens_transferred_from_pool"] * 819_200
    pool = simulate_mooncake(reqs, Pool(3), Pool(1, scheduler="continuous"), Link(100.0), HW, 2.0, 0.1,
                             prefix_ids=ids, prefix_len=512, reuse="pool")[0]
    none = simulate_mooncake(reqs, Pool(3), Pool(1, scheduler="continuous"), Link(100.0), HW, 2.0, 0.1,
                             prefix_ids=ids, prefix_len=512, reuse="none")[0]
    assert summarize_disagg(pool, 2, 0.1)["ttft_p50"] < summarize_disagg(none, 2, 0.1)["ttft_p50"]
    assert pool.kv_bytes_moved == none.kv_bytes_moved  # the decode side still gets every prompt's KV
    with pytest.raises(ValueError, match="reuse mode must be one of"):
        plan_prefix_reuse(reqs, ids, 512, 3, "global", HW, Link())


def test_early_rejection_under_overload():
    """Mooncake section 7: at twice what the pools sustain, rejecting at arrival on the
    predicted load serves more requests within their SLOs than admitting all (whose prefills
    are then wasted on requests that miss)."""
    reqs = chatbot_workload(400, 14.0, seed=0)
    P, D = Pool(2), Pool(1, scheduler="continuous")
    plain, s0 = simulate_mooncake(reqs, P, D, Link(100.0), HW, 0.25, 0.1)
    guard, s1 = simulate_mooncake(reqs, P, D, Link(100.0), HW, 0.25, 0.1, reject=True)
    drop = early_reject(reqs, P, D, HW, Link(100.0), 0.25, 0.1)
    assert s1["rejected"] == len(drop) > 0 and s0["rejected"] == 0
    assert all(guard.seqs[i].finish_time is None for i in drop)
    # a rejected request's status is the enum's member, as every other status is
    assert {i for i, s in enumerate(guard.seqs) if s.status is SeqStatus.REJECTED} == set(drop)
    assert all(type(s.status) is SeqStatus for s in guard.seqs)
    assert slo_attainment(guard.seqs, 0.25, 0.1) > slo_attainment(plain.seqs, 0.25, 0.1)
    assert s1["wasted_prefill_tokens"] < s0["wasted_prefill_tokens"]
    # attainment is over all requests: the rejected ones are misses
    met = sum(1 for s in guard.seqs if s.finish_time is not None and s.first_token_time - s.arrival <= 0.25
              and (s.output_len == 1 or (s.last_token_time - s.first_token_time) / (s.output_len - 1) <= 0.1))
    assert slo_attainment(guard.seqs, 0.25, 0.1) == pytest.approx(met / 400)


def test_light_load_rejects_nothing():
    reqs = chatbot_workload(100, 0.5, seed=3)
    assert early_reject(reqs, Pool(2), Pool(1), HW, Link(100.0), 1.0, 0.2) == set()
