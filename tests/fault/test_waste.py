"""The waste model: Young's first-order formula is the expansion of Daly's exact one, its
optimum is sqrt(2CM), Daly's higher-order optimum is near the exact minimum; bad input errors."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlsys_kit.fault.waste import (daly_interval, exact_optimum, exact_waste_fraction, expected_time_per_interval,
                                   job_mtbf, waste_fraction, young_interval)

small = st.floats(1e-4, 1e-2)


@given(small, small, small)
def test_first_order_is_the_expansion_of_the_exact_model(c, r, t):
    m = 1.0  # times in units of M; C, R, T ≪ M
    exact = expected_time_per_interval(t, c, r, m) / t - 1  # overhead per unit of work
    first = waste_fraction(t, c, r, m)
    # the difference is second order in (T + C + R)/M, relative to the overhead
    assert abs(exact - first) <= 2 * (t + c + r) * (1 + c / t)


@given(st.floats(1e-3, 1e3), st.floats(1e-3, 1e3), st.floats(0, 10))
def test_young_interval_minimises_the_first_order_waste(c, m, r):
    t = young_interval(c, m)
    assert t == pytest.approx(math.sqrt(2 * c * m))
    w = waste_fraction(t, c, r, m)
    for f in (0.5, 0.9, 1.1, 2.0):
        assert waste_fraction(t * f, c, r, m) >= w
    assert w == pytest.approx(math.sqrt(2 * c / m) + r / m)


@given(st.floats(1e-5, 0.5), st.floats(0, 0.5))
def test_daly_optimum_is_near_the_exact_optimum(c, r):
    m = 1.0
    exact = exact_optimum(c, r, m)
    assert daly_interval(c, m) == pytest.approx(exact, rel=0.05)
    # Daly's estimate loses almost nothing against the exact optimum; Young's is close when C ≪ M
    assert exact_waste_fraction(daly_interval(c, m), c, r, m) - exact_waste_fraction(exact, c, r, m) < 1e-3
    if c < 1e-3:
        assert young_interval(c, m) == pytest.approx(exact, rel=0.05)


def test_job_mtbf_and_daly_limits():
    assert job_mtbf(5 * 365 * 86400, 10_000) == pytest.approx(15768.0)
    assert daly_interval(3.0, 1.0) == 1.0  # C >= 2M: checkpoint once per MTBF


@pytest.mark.parametrize("call", [
    lambda: waste_fraction(0, 1, 1, 1), lambda: waste_fraction(1, -1, 1, 1), lambda: waste_fraction(1, 1, 1, 0),
    lambda: young_interval(0, 1), lambda: job_mtbf(1, 0), lambda: job_mtbf(-1, 2),
    lambda: daly_interval(1, float("nan")), lambda: exact_optimum(1, -1, 1)])
def test_bad_input(call):
    with pytest.raises(ValueError):
        call()
