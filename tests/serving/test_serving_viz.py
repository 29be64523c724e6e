"""Serving plots: the timeline's intervals tile each request's life; figures render."""

import pytest
from hypothesis import given, settings, strategies as st

from mlsys_kit.serving.engine import serve
from mlsys_kit.serving.simulator import SimBackend
from mlsys_kit.serving.viz import _intervals, plot_batch_composition, plot_latency_vs_throughput, plot_timeline
from mlsys_kit.serving.workload import LengthDist, make_workload
from mlsys_kit.viz.figure import figure_png


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 1000), name=st.sampled_from(["vllm", "chunked", "static"]), swap=st.sampled_from([0, 4]))
def test_timeline_intervals_tile_each_request(seed, name, swap):
    swap = 0 if name == "static" else swap
    reqs = make_workload(20, 40.0, LengthDist("uniform", 10, 1, 30), LengthDist("uniform", 8, 1, 20), seed=seed)
    res = serve(reqs, name, SimBackend(num_blocks=14, block_size=4), token_budget=16, max_num_seqs=6,
                swap_blocks=swap)
    for s in res.seqs:
        spans = [(a, b, st_) for a, b, st_ in _intervals(s, s.finish_time) if st_ != "preempted"]
        assert spans[0][0] == s.arrival and spans[-1][1] == s.finish_time
        assert all(b0 == a1 for (_, b0, _), (a1, _, _) in zip(spans, spans[1:]))  # no gap, no overlap
        assert sum(st_ == "preempted" for *_, st_ in _intervals(s, s.finish_time)) == s.num_preemptions
        # static batching: a request done before its batch shows its wait as padding, to the batch's end
        padded = [(a, b) for a, b, st_ in spans if st_ == "padding"]
        assert (padded == [(s.last_token_time, s.finish_time)]) == (s.finish_time > s.last_token_time)


def test_figures_render_and_reject_bad_input():
    res = serve(make_workload(30, 20.0, seed=1), "vllm", SimBackend(num_blocks=64))
    for fig in (plot_timeline(res), plot_batch_composition([res, res])):
        assert figure_png(fig)[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="max_requests must be a positive integer"):
        plot_timeline(res, max_requests=0)
    curve = [{"rate": r, "throughput_tokens_per_s": 10.0 * r, "e2e_p50": 0.1 * r} for r in (1, 2, 4)]
    fig = plot_latency_vs_throughput({"static": curve, "continuous": curve}, budget=0.3)
    assert figure_png(fig)[:4] == b"\x89PNG" and len(fig.axes[0].lines) == 3  # two curves and the budget
    with pytest.raises(ValueError, match="curves must hold at least one scheduler"):
        plot_latency_vs_throughput({})
