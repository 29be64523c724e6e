"""Serving plots: the timeline's intervals tile each request's life; figures render."""

import pytest
from hypothesis import given, settings, strategies as st

from mlsys_kit.serving import LengthDist, SimBackend, make_workload, serve
from mlsys_kit.viz import figure_png
from mlsys_kit.viz.serving import _intervals, plot_batch_composition, plot_timeline


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 1000), name=st.sampled_from(["vllm", "chunked"]), swap=st.sampled_from([0, 4]))
def test_timeline_intervals_tile_each_request(seed, name, swap):
    reqs = make_workload(20, 40.0, LengthDist("uniform", 10, 1, 30), LengthDist("uniform", 8, 1, 20), seed=seed)
    res = serve(reqs, name, SimBackend(num_blocks=14, block_size=4), max_num_batched_tokens=16, max_num_seqs=6,
                swap_blocks=swap)
    for s in res.seqs:
        spans = [(a, b, st_) for a, b, st_ in _intervals(s, s.finish_time) if st_ != "preempted"]
        assert spans[0][0] == s.arrival and spans[-1][1] == s.finish_time
        assert all(b0 == a1 for (_, b0, _), (a1, _, _) in zip(spans, spans[1:]))  # no gap, no overlap
        assert sum(st_ == "preempted" for *_, st_ in _intervals(s, s.finish_time)) == s.num_preemptions


def test_figures_render_and_reject_bad_input():
    res = serve(make_workload(30, 20.0, seed=1), "vllm", SimBackend(num_blocks=64))
    for fig in (plot_timeline(res), plot_batch_composition([res, res])):
        assert figure_png(fig)[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="max_requests must be a positive integer"):
        plot_timeline(res, max_requests=0)
