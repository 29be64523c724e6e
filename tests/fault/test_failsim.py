"""The failure simulator: the fast path equals the teaching path draw for draw; the measured
waste agrees with the formulas where their assumptions hold and the measured optimum with
Young/Daly; where T approaches M the first-order formula and the simulation diverge."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlsys_kit.fault.failsim import simulate
from mlsys_kit.fault.failsim_fast import best_interval, breakdown, simulate_fast
from mlsys_kit.fault.waste import daly_interval, exact_waste_fraction, waste_fraction, young_interval


@given(st.floats(0.01, 5), st.floats(0, 2), st.floats(0, 2), st.integers(1, 300), st.integers(0, 10**6))
def test_fast_path_equals_teaching_path(t, c, r, segments, seed):
    a, b = simulate(t, c, r, 1.0, segments, seed=seed), simulate_fast(t, c, r, 1.0, segments, seed=seed)
    assert (a.failures, a.checkpoints) == (b.failures, b.checkpoints)
    for k in ("wall_time", "useful", "checkpointing", "lost", "restarting"):
        assert getattr(a, k) == pytest.approx(getattr(b, k), rel=1e-9, abs=1e-9)
    assert a.wall_time == pytest.approx(a.useful + a.checkpointing + a.lost + a.restarting)


def test_timeline_covers_the_run_without_overlap():
    r = simulate(2.0, 0.2, 0.5, 3.0, 30, seed=1, record=True)
    assert r.events[0][1] == 0 and r.events[-1][2] == pytest.approx(r.wall_time)
    for (_, _, e), (_, s, _) in zip(r.events, r.events[1:]):
        assert s == pytest.approx(e)
    assert sum(1 for k, *_ in r.events if k == "checkpoint") == 30


@given(st.floats(1e-3, 1e-2), st.floats(0, 1e-2), st.floats(0.5, 2), st.integers(0, 1000))
def test_measured_waste_agrees_with_the_formulas_when_c_r_t_small(c, r, f, seed):
    m = 1.0
    t = f * young_interval(c, m)
    segs = round(3000 * m / t)  # about 3000 failures
    w = simulate_fast(t, c, r, m, segs, seed=seed).waste_fraction
    exact = exact_waste_fraction(t, c, r, m)
    # statistical tolerance: lost work per failure has sd ~ T/sqrt(12), ~3000 failures
    sd = (t / 12 ** 0.5 + r) / m / 3000 ** 0.5
    assert abs(w - exact) < 5 * sd + 1e-9
    assert abs(w - waste_fraction(t, c, r, m)) < 5 * sd + 3 * (t + c + r) ** 2 / m ** 2 + 2 * w ** 2


@given(st.floats(1e-3, 2e-2), st.floats(0, 1e-2), st.integers(0, 100))
def test_measured_optimum_agrees_with_young_daly(c, r, seed):
    m = 1.0
    best, curve = best_interval(c, r, m, work=3000 * m, seed=seed)
    assert best == pytest.approx(daly_interval(c, m), rel=0.45)
    # the waste curve is flat at the optimum: the measured minimum is within noise of the formula's
    w_young = dict(curve)[min(dict(curve), key=lambda x: abs(x - daly_interval(c, m)))]
    assert min(w for _, w in curve) <= w_young
    assert w_young - min(w for _, w in curve) < 0.15 * w_young


def test_first_order_breaks_down_when_the_interval_nears_the_mtbf():
    rows = breakdown(1e-3, 1e-3, 1.0, ratios=(0.03, 1.0, 2.0), work=30000.0, seed=0)
    near, far = rows[0], rows[1:]
    assert abs(near["first_order"] - near["simulated"]) < 0.1 * near["simulated"]
    for row in far:  # first order off by > 15 %, the exact model within noise (5 %)
        assert abs(row["first_order"] - row["simulated"]) > 0.15 * row["simulated"]
        assert abs(row["exact"] - row["simulated"]) < 0.05 * row["simulated"]


@pytest.mark.parametrize("call", [
    lambda: simulate(0, 1, 1, 1, 1), lambda: simulate(1, 1, 1, 1, 0), lambda: simulate(1, 1, 1, -1, 1),
    lambda: simulate_fast(1, -1, 1, 1, 1), lambda: simulate(1, 1, 1, 1, 1, seed=-1),
    lambda: best_interval(1, 1, 1, intervals=[1.0, -2.0]), lambda: breakdown(1, 1, 1, ratios=(0,))])
def test_bad_input(call):
    with pytest.raises(ValueError):
        call()


def test_a_job_that_could_hardly_finish_is_refused_not_simulated_out_of_memory():
    from mlsys_kit.fault.failsim_fast import simulate_fast

    for sim in (simulate, simulate_fast):
        with pytest.raises(ValueError, match="hardly ever finish one"):
            sim(10.0, 600.0, 60.0, 30.0, 100)  # a 610 s interval against a 30 s MTBF: ~e^20 tries each
    assert simulate(10.0, 60.0, 60.0, 3600.0, 100).checkpoints == 100  # a sane one still runs
