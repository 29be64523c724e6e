"""BytePS's analysis (OSDI'20 section 3.2): the closed form against the placement LP, and
all-reduce and PS as its special cases."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlsys_kit.feed.byteps import allreduce_time, byteps_split, byteps_time, compare, lower_bound, ps_time


@settings(max_examples=80, deadline=None)
@given(st.integers(2, 64), st.integers(0, 96), st.floats(1e3, 1e10), st.floats(1e6, 1e11))
def test_byteps_equals_the_lp_optimum(n, k, m, bw):
    lp = lower_bound(n, k, m, bw)
    assert byteps_time(n, k, m, bw) == pytest.approx(lp["time"], rel=1e-7)
    x, y = byteps_split(n, k, m)
    assert k * x + n * y == pytest.approx(m)  # every byte summed somewhere
    assert byteps_time(n, k, m, bw) <= allreduce_time(n, m, bw) * (1 + 1e-12)
    if k:
        assert byteps_time(n, k, m, bw) <= ps_time(n, k, m, bw) * (1 + 1e-12)


@given(st.integers(2, 64), st.floats(1e3, 1e10))
def test_allreduce_and_ps_are_special_cases(n, m):
    assert byteps_time(n, 0, m, 1e9) == pytest.approx(allreduce_time(n, m, 1e9))
    assert byteps_time(n, n, m, 1e9) == pytest.approx(ps_time(n, n, m, 1e9)) == pytest.approx(m / 1e9)


def test_hand_case_eight_gpus_four_cpus():
    # n = 8, k = 4, M = 1: 2*8*7 / (64 + 32 - 8) = 112 / 88; ring 2*7/8 = 1.75; PS max(1, 8/4) = 2
    r = compare(8, 4, 1.0, 1.0)
    assert r["byteps_time"] == pytest.approx(112 / 88)
    assert r["allreduce_time"] == 1.75 and r["ps_time"] == 2.0
    assert r["byteps_gpu_bytes"] == pytest.approx(4 / 88)


def test_bad_input():
    with pytest.raises(ValueError, match="gpus must be at least 2"):
        byteps_time(1, 0, 1.0, 1.0)
    with pytest.raises(ValueError, match="cpus must be a non-negative integer"):
        byteps_time(4, -1, 1.0, 1.0)
    with pytest.raises(ValueError, match="cpus must be at least 1 for a parameter server"):
        ps_time(4, 0, 1.0, 1.0)
