"""Metrics against numpy and against hand-computed DistServe definitions."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from mlsys_kit.serving.engine import ServeResult
from mlsys_kit.serving.metrics import (RateSearch, meets_slo, percentile, request_latencies, summarize,
                                      summarize_pooled, throughput_at_latency)
from mlsys_kit.serving.sequence import Seq
from mlsys_kit.serving.workload import Request


@settings(max_examples=200, deadline=None)
@given(xs=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50), q=st.floats(0, 100))
def test_percentile_matches_numpy(xs, q):
    assert percentile(xs, q) == pytest.approx(float(np.percentile(xs, q)), rel=1e-9, abs=1e-6)


def _finished(rid, arrival, first, last, out, ttft_slo=None, tpot_slo=None, held=0.0):
    """A finished request: first and last token times; the response returned ``held`` seconds
    after its last token (static batching holds it until its batch ends)."""
    s = Seq(Request(rid, arrival, 4, out, None, ttft_slo, tpot_slo))
    s.first_token_time, s.last_token_time, s.num_generated = first, last, out
    s.finish_time = last + held
    return s


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 10), st.floats(0.01, 5), st.floats(0, 5), st.integers(1, 20)),
                min_size=1, max_size=30), st.floats(0.05, 3), st.floats(0.01, 1), st.floats(0, 3))
def test_ttft_tpot_goodput_definitions(rows, ttft_slo, tpot_slo, held):
    seqs = [_finished(i, a, a + w, a + w + d, o, held=held * (i % 2)) for i, (a, w, d, o) in enumerate(rows)]
    span = max(s.finish_time for s in seqs) + 1.0
    res = ServeResult("x", seqs, simulated_seconds=span)
    ttft, tpot, e2e = request_latencies(seqs)
    assert ttft == pytest.approx([w for _, w, _, _ in rows])
    assert tpot == pytest.approx([d / (o - 1) for _, _, d, o in rows if o > 1])
    # end-to-end runs to the response's return; TPOT only between the tokens
    assert e2e == pytest.approx([w + d + held * (i % 2) for i, (_, w, d, _) in enumerate(rows)])
    # the SLO test on the recorded times ((a + w) - a can differ from w by one rounding: at
    # w == ttft_slo the definition must be applied to what the engine recorded)
    good = sum(s.first_token_time - s.arrival <= ttft_slo
               and (o == 1 or (s.last_token_time - s.first_token_time) / (o - 1) <= tpot_slo)
               for s, (*_, o) in zip(seqs, rows))
    d = summarize(res, ttft_slo, tpot_slo)
    assert d["goodput"] == pytest.approx(good / span)
    assert d["slo_attainment"] == pytest.approx(good / len(rows))
    assert d["throughput_tokens_per_s"] == pytest.approx(sum(o for *_, o in rows) / span)
    assert d["ttft_p99"] == pytest.approx(float(np.percentile(ttft, 99)))
    norm = [(w + d_ + held * (i % 2)) / o for i, (_, w, d_, o) in enumerate(rows)]  # Orca / vLLM: e2e per token
    assert d["norm_latency_mean"] == pytest.approx(float(np.mean(norm)))
    assert d["norm_latency_p50"] == pytest.approx(float(np.percentile(norm, 50)))


def test_request_slo_overrides_default():
    s = _finished(0, 0.0, 2.0, 3.0, 2, ttft_slo=5.0)
    assert meets_slo(s, ttft_slo=1.0, tpot_slo=None)
    assert not meets_slo(_finished(1, 0.0, 2.0, 3.0, 2), ttft_slo=1.0, tpot_slo=None)
    assert not meets_slo(s, ttft_slo=None, tpot_slo=0.5)


def test_unfinished_run_and_bad_slo_rejected():
    s = Seq(Request(0, 0.0, 3, 3))
    with pytest.raises(ValueError, match="did not finish"):
        summarize(ServeResult("x", [s], simulated_seconds=1.0))
    with pytest.raises(ValueError, match="ttft_slo must be a positive"):
        summarize(ServeResult("x", [], simulated_seconds=1.0), ttft_slo=-1)
    with pytest.raises(ValueError, match=r"percentile q must be in \[0, 100\]"):
        percentile([1.0], 101)


curves = st.lists(st.tuples(st.floats(0.1, 10), st.floats(0, 100)), min_size=1, max_size=8, unique_by=lambda t: t).map(
    lambda rows: [{"rate": float(i + 1), "e2e_p50": lat, "throughput_tokens_per_s": tp} for i, (lat, tp) in enumerate(rows)])


@settings(max_examples=200, deadline=None)
@given(curve=curves, budget=st.floats(0.1, 12), more=st.floats(0, 5))
def test_throughput_at_latency_is_bounded_and_monotone(curve, budget, more):
    got = throughput_at_latency(curve, budget)
    if curve[0]["e2e_p50"] > budget:
        assert got is None
        return
    cut = next((i for i, r in enumerate(curve) if r["e2e_p50"] > budget), len(curve))
    within = [r["throughput_tokens_per_s"] for r in curve[:cut]]
    assert max(within) <= got <= max(r["throughput_tokens_per_s"] for r in curve[:cut + 1])
    assert throughput_at_latency(curve, budget + more) >= got  # a looser budget never serves less


def test_throughput_at_latency_interpolates_to_the_crossing():
    curve = [{"rate": 1, "e2e_p50": 1.0, "throughput_tokens_per_s": 10.0},
             {"rate": 2, "e2e_p50": 3.0, "throughput_tokens_per_s": 20.0},
             {"rate": 3, "e2e_p50": 2.0, "throughput_tokens_per_s": 90.0}]  # past the first crossing: ignored
    assert throughput_at_latency(curve, 2.0) == pytest.approx(15.0)
    assert throughput_at_latency(curve, 0.5) is None
    with pytest.raises(ValueError, match="each point must be a dict with 'rate'"):
        throughput_at_latency([{"rate": 1}], 1.0)
    with pytest.raises(ValueError, match="budget must be a positive"):
        throughput_at_latency(curve, 0)


def _search(latency_of, budget, grid, **kw):
    """Run a RateSearch against a latency function of the rate; throughput 10 tokens per request."""
    search = RateSearch(budget, grid, **kw)
    while (rate := search.next_rate()) is not None:
        search.add({"rate": rate, "e2e_p50": latency_of(rate), "throughput_tokens_per_s": 10.0 * rate})
    return search


@settings(max_examples=200, deadline=None)
@given(l0=st.floats(0.01, 1), k=st.floats(1e-4, 1), p=st.floats(0.5, 3), scale=st.floats(1.05, 20),
       grid=st.lists(st.floats(0.5, 200), min_size=1, max_size=10, unique=True), tol=st.floats(0.005, 0.2))
def test_rate_search_brackets_the_crossing_of_a_monotone_curve(l0, k, p, scale, grid, tol):
    """Latency l0 + k * rate^p: the crossing of the budget has a closed form; the search must
    bracket it, as narrowly as asked, and agree with a dense sweep read by throughput_at_latency."""
    budget = l0 * scale
    crossing = ((budget - l0) / k) ** (1 / p)
    search = _search(lambda r: l0 + k * r ** p, budget, grid, rel_tol=tol, max_steps=40, expand=40)
    lo, hi = search.bracket()
    assert lo is not None and hi is not None and lo <= crossing <= hi
    assert hi - lo <= tol * hi * (1 + 1e-9)
    got = search.result()
    assert 10 * lo <= got <= 10 * hi
    dense = [{"rate": r, "e2e_p50": l0 + k * r ** p, "throughput_tokens_per_s": 10.0 * r}
             for r in (crossing * (0.5 + i / 4000) for i in range(4001))]
    assert got == pytest.approx(throughput_at_latency(dense, budget), rel=tol)


def test_rate_search_expands_below_and_above_the_grid_and_stops():
    down = _search(lambda r: r / 10, 1.0, [40, 80], expand=3)  # crossing at 10: halving 40 -> 20 -> 10 -> 5
    assert down.bracket()[0] is not None and down.bracket()[0] <= 10 <= down.bracket()[1]
    up = _search(lambda r: r / 10, 1.0, [1, 2], expand=4, max_steps=0)  # doubling 2 -> 4 -> 8 -> 16
    assert up.bracket() == (8.0, 16.0) and up.steps == 0
    assert up.result() == pytest.approx(100.0)  # interpolated across the bracket
    never = _search(lambda r: 5.0, 1.0, [4, 8], expand=2)  # every rate over: halving gives up
    assert never.result() is None and never.bracket() == (None, 1.0)
    always = _search(lambda r: 0.1, 1.0, [4, 8], expand=2)  # never over: the best throughput seen
    assert always.bracket() == (32.0, None) and always.result() == pytest.approx(320.0)


@settings(max_examples=100, deadline=None)
@given(noise=st.lists(st.floats(-0.3, 0.3), min_size=64, max_size=64), steps=st.integers(0, 8))
def test_rate_search_on_a_noisy_curve_keeps_throughput_at_latency_s_reading(noise, steps):
    """Noise (a non-monotone curve) may move the bracket, but the answer is always what
    throughput_at_latency reads from every point measured, between the bracket's ends."""
    calls = iter(noise)
    search = _search(lambda r: r / 10 + next(calls), 3.0, [5, 10, 20, 40, 80], max_steps=steps, rel_tol=0.01)
    lo, hi = search.bracket()
    assert search.steps <= steps
    assert search.result() == throughput_at_latency(search.points, 3.0)
    if lo is not None and hi is not None:
        assert 10 * lo <= search.result() <= max(p["throughput_tokens_per_s"] for p in search.points if p["rate"] <= hi)


def test_rate_search_rejects_bad_settings():
    for kw, msg in [({"budget": 0}, "budget must be a positive"), ({"grid": []}, "grid must be a non-empty"),
                    ({"grid": [1, -2]}, "grid must be a non-empty"), ({"rel_tol": 1.5}, "rel_tol must be in"),
                    ({"max_steps": -1}, "max_steps must be a non-negative int"), ({"expand": 1.5}, "expand must be")]:
        with pytest.raises(ValueError, match=msg):
            RateSearch(**{"budget": 1.0, "grid": [1.0], **kw})
    with pytest.raises(ValueError, match="a point must be a dict with 'rate'"):
        RateSearch(1.0, [1.0]).add({"e2e_p50": 1.0})


@settings(max_examples=50, deadline=None)
@given(runs=st.lists(st.lists(st.tuples(st.floats(0, 10), st.floats(0.01, 5), st.floats(0, 5), st.integers(1, 20)),
                              min_size=1, max_size=12), min_size=1, max_size=4))
def test_pooled_summary_is_the_summary_of_all_requests_together(runs):
    """Pooling runs = one run holding every request: percentiles against numpy on the
    concatenated latencies, throughput = all tokens over all spans; one run = summarize."""
    results = []
    for rows in runs:
        seqs = [_finished(i, a, a + w, a + w + d, o) for i, (a, w, d, o) in enumerate(rows)]
        results.append(ServeResult("x", seqs, simulated_seconds=max(s.finish_time for s in seqs) + 1.0))
    got = summarize_pooled(results)
    e2e = [w + d for rows in runs for _, w, d, _ in rows]
    norm = [(w + d) / o for rows in runs for _, w, d, o in rows]
    assert got["requests"] == len(e2e)
    assert got["e2e_p50"] == pytest.approx(float(np.percentile(e2e, 50)), abs=1e-9)
    assert got["norm_latency_p50"] == pytest.approx(float(np.percentile(norm, 50)), abs=1e-9)
    tokens = sum(o for rows in runs for *_, o in rows)
    assert got["throughput_tokens_per_s"] == pytest.approx(tokens / sum(r.simulated_seconds for r in results))
    one = summarize(results[0])
    assert summarize_pooled(results[:1]) == pytest.approx({k: one[k] for k in got})
    with pytest.raises(ValueError, match="at least one run"):
        summarize_pooled([])
