"""The demo section, the plots and the lecture widget."""

import numpy as np
import pytest

from mlsys_kit.disagg.placement import chatbot_workload, roofline_hardware
from mlsys_kit.disagg.simulate import Link, Pool, queue_lengths, simulate_disagg
from mlsys_kit.disagg.viz import disagg_explorer, plot_attainment_vs_rate, plot_disagg_run, plot_placements

HW = roofline_hardware()


def test_queue_lengths_add_up_to_the_requests_in_the_system():
    reqs = chatbot_workload(80, 6.0, seed=0)
    res = simulate_disagg(reqs, Pool(2), Pool(1, scheduler="continuous"), Link(10.0), HW)
    times = np.linspace(0, max(s.finish_time for s in res.seqs), 50)
    q = queue_lengths(res, times)
    for k, t in enumerate(times):
        inside = sum(r.arrival <= t < s.finish_time for r, s in zip(reqs, res.seqs))
        assert q["prefill"][k] + q["transfer"][k] + q["decode"][k] == inside
        assert min(q["prefill"][k], q["transfer"][k], q["decode"][k]) >= 0


def test_plots_draw():
    reqs = chatbot_workload(60, 6.0, seed=0)
    res = simulate_disagg(reqs, Pool(2), Pool(1), Link(100.0), HW)
    assert len(plot_disagg_run(res, 0.25, 0.1).axes) == 2
    assert plot_attainment_vs_rate({"vllm": [(1, 1.0), (2, 0.5)]}).axes
    search = {"devices": 3, "candidates": [{"prefill": 2, "prefill_tp": 1, "decode": 1, "decode_tp": 1,
                                            "goodput_per_device": 3.0}],
              "colocated": {"scheduler": "vllm", "tp": 1, "instances": 3, "goodput_per_device": 1.5}}
    assert plot_placements(search).axes
    with pytest.raises(ValueError, match="at least one"):
        plot_attainment_vs_rate({})


def test_widget_recounts_and_redraws_when_sliders_move():
    box = disagg_explorer(requests=40)
    ttft, tpot = box.children[0].children
    link, rate = box.children[1].children
    facts, image = box.children[2], box.children[3]
    before = image.value
    tpot.value = 0.02  # tighter than a decode step: fewer requests meet it
    assert image.value != before
    before = image.value
    link.value = 5
    assert image.value != before
    before = image.value
    rate.value = 8.0
    assert image.value != before and "goodput per device" in facts.value


def test_widget_recount_equals_slo_attainment():
    """The widget's numpy recount (fast path) is the teaching path's slo_attainment."""
    from hypothesis import given, settings, strategies as st

    from mlsys_kit.disagg.simulate import slo_attainment
    from mlsys_kit.disagg.viz import _Curves

    res = simulate_disagg(chatbot_workload(120, 9.0, seed=4), Pool(2), Pool(1, scheduler="continuous"), Link(25.0), HW)
    curves = _Curves()
    curves.add(("d",), res)

    @settings(max_examples=40)
    @given(st.floats(0.01, 2.0), st.floats(0.001, 0.3))
    def check(t1, t2):
        assert curves.attainment(("d",), t1, t2) == pytest.approx(slo_attainment(res.seqs, t1, t2))

    check()
