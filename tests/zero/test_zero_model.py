"""The analytic ZeRO model against the paper's own numbers (SC'20, Figure 1, Tables 1 and 2)
and invariants that any correct model must satisfy."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlsys_kit.zero.model import (COMM_VOLUME_PSI, STAGES, all_stages, bytes_per_param, check_fits,
                                  comm_elements_per_rank, deepspeed_estimate_bytes, max_params,
                                  memory_per_device, shard_elements)

GB = 1e9


def test_figure1_worked_example_7_5b_64_ranks():
    # Figure 1: Ψ = 7.5B, N_d = 64, K = 12 -> 120 GB, 31.4 GB, 16.6 GB, 1.9 GB.
    got = [m.total_bytes / GB for m in all_stages(7_500_000_000, 64)]
    assert got[0] == pytest.approx(120.0)
    assert round(got[1], 1) == 31.4
    assert round(got[2], 1) == 16.6
    assert round(got[3], 1) == 1.9


@pytest.mark.parametrize("psi, expected", [
    # Table 1, row N_d = 64: (P_os, P_os+g, P_os+g+p) in GB, as printed (to the last digit shown).
    (7.5e9, ("31.4", "16.6", "1.88")),
    (128e9, ("536", "284", "32")),
    (1e12, ("4187", "2219", "250")),
])
def test_table1_row_64_ranks(psi, expected):
    got = [memory_per_device(int(psi), 64, s).total_bytes / GB for s in (1, 2, 3)]
    for g, e in zip(got, expected):
        last_digit = 10.0 ** -len(e.partition(".")[2])
        assert abs(g - float(e)) < last_digit, (g, e)


def test_table2_max_theoretical_model_size_32gb():
    # Table 2 (left), MP = 1, 64 GPUs of 32 GB: 2B, 7.6B, 14.4B, 128B.
    got = [max_params(32 * GB, 64, s) / 1e9 for s in STAGES]
    assert [round(g, 1) for g in got] == [2.0, 7.6, 14.4, 128.0]


def test_components_follow_section5_formulas():
    psi, n, k = 1000, 10, 12
    m = [memory_per_device(psi, n, s, k) for s in STAGES]
    assert (m[0].params_bytes, m[0].grads_bytes, m[0].optimizer_bytes) == (2000, 2000, 12000)
    assert (m[1].params_bytes, m[1].grads_bytes, m[1].optimizer_bytes) == (2000, 2000, 1200)
    assert (m[2].params_bytes, m[2].grads_bytes, m[2].optimizer_bytes) == (2000, 200, 1200)
    assert (m[3].params_bytes, m[3].grads_bytes, m[3].optimizer_bytes) == (200, 200, 1200)
    assert [x.comm_volume_psi for x in m] == [2, 2, 2, 3]


@settings(max_examples=200, deadline=None)
@given(psi=st.integers(1, 10**13), n=st.integers(1, 4096), k=st.floats(0.5, 64))
def test_invariants(psi, n, k):
    ms = all_stages(psi, n, k)
    totals = [m.total_bytes for m in ms]
    # each stage partitions more, so never needs more memory
    assert all(a >= b * (1 - 1e-12) for a, b in zip(totals, totals[1:]))
    # the components add up, and stage 0 is independent of N_d
    for m in ms:
        assert m.total_bytes == pytest.approx(m.params_bytes + m.grads_bytes + m.optimizer_bytes)
    assert totals[0] == pytest.approx((4 + k) * psi)
    # stage 3 is exactly stage 0 divided by N_d
    assert totals[3] == pytest.approx(totals[0] / n)
    # N_d = 1 partitions nothing
    assert [m.total_bytes for m in all_stages(psi, 1, k)] == pytest.approx([totals[0]] * 4)
    # padding to N·ceil(Ψ/N) costs at most one element per partitioned state and N - 1 per
    # replicated one, and never less than the paper's figure
    for s in STAGES:
        pad = memory_per_device(psi, n, s, k, padded=True).total_bytes
        assert totals[s] * (1 - 1e-12) <= pad <= totals[s] + (4 + k) * n + 1e-6 * totals[s]


@settings(max_examples=200, deadline=None)
@given(mem=st.floats(1e6, 1e12), n=st.integers(1, 1024), stage=st.sampled_from(STAGES),
       k=st.sampled_from([4, 8, 12, 16]))
def test_max_params_is_the_largest_that_fits(mem, n, stage, k):
    psi = max_params(mem, n, stage, k)
    if psi >= 1:
        assert memory_per_device(psi, n, stage, k).total_bytes <= mem * (1 + 1e-9)
    assert memory_per_device(psi + 1, n, stage, k).total_bytes > mem * (1 - 1e-9)
    assert abs(psi - mem / bytes_per_param(n, stage, k)) <= 1 + 1e-9 * psi


@settings(max_examples=200, deadline=None)
@given(psi=st.integers(1, 10**9), n=st.integers(1, 512), stage=st.sampled_from(STAGES))
def test_ring_volume_tends_to_paper_volume(psi, n, stage):
    elems = comm_elements_per_rank(psi, n, stage)
    paper = COMM_VOLUME_PSI[stage] * psi
    # (N-1)·ceil(Ψ/N) lies between (N-1)/N·Ψ and Ψ + N
    assert paper * (n - 1) / n - 1e-9 <= elems <= paper + COMM_VOLUME_PSI[stage] * n
    if n == 1:
        assert elems == 0
    assert shard_elements(psi, n) * n >= psi > (shard_elements(psi, n) - 1) * n


def test_deepspeed_estimators_are_more_conservative():
    psi, n = 7_500_000_000, 64
    ds2 = deepspeed_estimate_bytes(psi, n, 2)
    ds3 = deepspeed_estimate_bytes(psi, n, 3, largest_layer_params=50_000_000)
    assert ds2 == 4 * psi + int(16 * psi / n)
    assert ds3 == 200_000_000 + int(18 * psi / n)
    assert ds2 > memory_per_device(psi, n, 2).total_bytes
    assert ds3 > memory_per_device(psi, n, 3).total_bytes


@pytest.mark.parametrize("kwargs, message", [
    (dict(params=100, ranks=0, stage=1), "ranks"),
    (dict(params=100, ranks=-3, stage=1), "ranks"),
    (dict(params=100, ranks=4, stage=4), "stage must be one of 0, 1, 2, 3"),
    (dict(params=100, ranks=4, stage=1, k=0), "k (optimizer bytes"),
    (dict(params=100, ranks=4, stage=1, k=-12), "positive number"),
    (dict(params=0, ranks=4, stage=1), "params"),
])
def test_bad_configurations(kwargs, message):
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        memory_per_device(**kwargs)


def test_model_that_does_not_fit():
    with pytest.raises(ValueError, match=r"needs 120 GB per device .* largest that fits is 2,000,000,000 "
                                         r"parameters \(stage 1 would fit\)"):
        check_fits(7_500_000_000, 64, 0, 32 * GB)
    assert check_fits(7_500_000_000, 64, 3, 32 * GB).stage == 3
    with pytest.raises(ValueError, match="no stage fits"):
        check_fits(10**13, 2, 3, 32 * GB)
    with pytest.raises(ValueError, match="device memory"):
        max_params(0, 4, 1)
