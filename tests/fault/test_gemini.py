"""GEMINI (SOSP'23): the closed-form recovery probability against brute-force enumeration and
Monte Carlo, group placement at least as good as ring, chunk interleaving inside idle gaps of
the pipeline simulator's step, and the headline comparison's direction."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlsys_kit.fault.gemini import (STRATEGIES, brute_force_probability, headline, idle_gaps, interleave,
                                    monte_carlo_probability, pipeline_network_busy, placement,
                                    recoverable, recovery_probability, recovery_time)


@st.composite
def nmk(draw, n_max=10):
    n = draw(st.integers(1, n_max))
    m = draw(st.integers(1, n))
    s = draw(st.sampled_from([x for x in STRATEGIES if x != "group" or n % m == 0]))
    return n, m, draw(st.integers(0, n)), s


@given(nmk())
def test_closed_form_equals_brute_force(c):
    n, m, k, s = c
    assert recovery_probability(n, m, k, s) == pytest.approx(brute_force_probability(n, m, k, s), abs=1e-12)


def test_closed_form_agrees_with_monte_carlo_at_scale():
    for s in ("group", "ring"):
        p = recovery_probability(64, 2, 6, s)
        mc = monte_carlo_probability(64, 2, 6, s, trials=20_000, seed=1)
        assert abs(p - mc) < 4 * (p * (1 - p) / 20_000) ** 0.5 + 1e-9


@given(st.integers(1, 8), st.integers(1, 4), st.data())
def test_group_is_at_least_as_good_as_ring(groups, m, data):
    n = groups * m
    k = data.draw(st.integers(0, n))
    assert recovery_probability(n, m, k, "group") >= recovery_probability(n, m, k, "ring") - 1e-12


def test_placement_shapes_and_paper_formula():
    assert placement(4, 2, "group") == [[0, 1], [1, 0], [2, 3], [3, 2]]
    assert placement(4, 2, "ring") == [[0, 1], [1, 2], [2, 3], [3, 0]]
    assert all(len(h) == 3 and h[0] == i for i, h in enumerate(placement(7, 3, "mixed")))
    assert not recoverable(placement(4, 2, "group"), {0, 1})
    n, m, k = 16, 2, 3  # k < 2m: the paper's 1 - (N/m) C(N-m, k-m) / C(N, k)
    from math import comb
    assert recovery_probability(n, m, k) == pytest.approx(1 - (n // m) * comb(n - m, k - m) / comb(n, k))


def test_interleaving_uses_only_idle_time_of_a_simulated_step():
    busy, step = pipeline_network_busy(4, 8, 1.0, 2.0, 0.1, 2.0, rank=1)
    gaps = idle_gaps(busy, step)
    plan = interleave(gaps, 3e9, 1e9, 1e8, reserve=0.01)
    for s, e in plan["spans"]:  # no chunk overlaps training traffic
        assert all(e <= b0 or s >= b1 for b0, b1 in busy)
        assert 0 <= s < e <= step
    assert plan["steps"] == -(-plan["chunks"] // plan["chunks_per_step"])
    assert interleave(gaps, 1e9, 1e9, 1e12)["steps"] == float("inf")  # a chunk too big never fits


def test_headline_direction_and_recovery_time():
    h = headline()
    assert h["gemini"]["retrieval_s"] == pytest.approx(h["shard_bytes"] / 50e9)
    assert h["recovery_speedup"] > 13  # the paper: failure recovery more than 13x faster
    assert h["gemini"]["wasted_per_failure_s"] < h["remote"]["wasted_per_failure_s"]
    assert recovery_time(1e9, 1e9, fixed=2.0) == pytest.approx(3.0)


@pytest.mark.parametrize("call", [
    lambda: placement(6, 4, "group"), lambda: placement(2, 3, "ring"), lambda: placement(4, 2, "star"),
    lambda: recovery_probability(4, 2, 5), lambda: recovery_probability(4, 2, -1),
    lambda: interleave([(0, 1)], 1, 0, 1), lambda: interleave([(1, 0)], 1, 1, 1),
    lambda: idle_gaps([], 0), lambda: pipeline_network_busy(2, 4, 1, 1, 0.1, 0, rank=2),
    lambda: headline(machines=0), lambda: recoverable([], set()), lambda: recoverable([[0], []], set())])
def test_bad_input(call):
    with pytest.raises(ValueError):
        call()
