"""Pollux's models (OSDI'21, sections 3.1-3.2) against their closed forms, the goodput-optimal
batch size against calculus, and the greedy allocation (our stand-in for section 4.2's GA)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from mlsys_kit.cluster.core import Allocation, Cluster, Job, JobState
from mlsys_kit.cluster.pollux import (
    Pollux, PolluxParams, efficiency, fitness, goodput, greedy_allocation, iteration_time, optimal_batch_size,
    params_for, speedup, throughput,
)

P = PolluxParams(0.01, 0.002, alpha_local=0.02, beta_local=0.001, alpha_node=0.05, beta_node=0.004, gamma=1.5,
                 phi=500.0, m0=32, max_local=128)


def test_efficiency_is_one_at_m0_and_falls():
    assert efficiency(100.0, 32, 32) == 1.0
    assert efficiency(100.0, 32, 64) == pytest.approx(132 / 164)
    assert efficiency(0.0, 32, 64) == pytest.approx(0.5)  # no noise: twice the batch, half the value per example
    assert efficiency(1e12, 32, 4096) == pytest.approx(1.0, rel=1e-6)  # huge noise: batch size is free


def test_iteration_time_cases_of_section_3_2():
    t_grad = 0.01 + 0.002 * 8
    assert iteration_time(P, 1, 1, 8) == pytest.approx(t_grad)
    sync_local = 0.02 + 0.001 * 2
    assert iteration_time(P, 4, 1, 8) == pytest.approx((t_grad ** 1.5 + sync_local ** 1.5) ** (1 / 1.5))
    sync_node = 0.05 + 0.004 * 6
    assert iteration_time(P, 8, 2, 8, 2) == pytest.approx(2 * t_grad + (t_grad ** 1.5 + sync_node ** 1.5) ** (1 / 1.5))
    assert throughput(P, 8, 2, 8, 2) == pytest.approx(8 * 8 * 3 / iteration_time(P, 8, 2, 8, 2))
    assert goodput(P, 8, 2, 8, 2) == pytest.approx(throughput(P, 8, 2, 8, 2) * (500 + 32) / (500 + 192))


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.floats(0.001, 0.1), st.floats(1e-5, 0.01), st.floats(0.0, 5000.0))
def test_optimal_batch_matches_calculus(a, b, phi):
    """One GPU, no sync, gamma 1: goodput(m) = m / (a + b m) * (phi + m0) / (phi + m) peaks at
    m* = sqrt(a phi / b) (set the derivative to zero), so the integer optimum is next to it."""
    p = PolluxParams(a, b, phi=phi, m0=1, max_local=4096, max_batch=4096)
    batch, local, accum, g = optimal_batch_size(p, 1, 1)
    m_star = min(max(math.sqrt(a * phi / b), 1.0), 4096.0)
    assert accum == 0 and batch == local
    near = {max(1, min(4096, v)) for v in (math.floor(m_star), math.ceil(m_star))}
    assert g >= max(goodput(p, 1, 1, m) for m in near) * (1 - 1e-12)
    assert batch in near or abs(batch - m_star) <= 1


@settings(derandomize=True, max_examples=30, deadline=None)
@given(st.integers(1, 16), st.integers(0, 2))
def test_optimal_batch_is_best_and_in_range(gpus, accum):
    p = PolluxParams(0.01, 0.002, alpha_local=0.02, alpha_node=0.05, phi=300.0, m0=32, max_local=32, max_batch=1024)
    nodes = -(-gpus // 8)
    batch, local, s, g = optimal_batch_size(p, gpus, nodes, accum)
    assert batch == gpus * local * (s + 1) and 32 <= batch <= 1024 and local <= 32 and s <= accum
    for ss in range(accum + 1):
        for m in range(1, 33):
            if 32 <= gpus * m * (ss + 1) <= 1024:
                assert goodput(p, gpus, nodes, m, ss) <= g * (1 + 1e-12)


def test_more_gpus_prefer_bigger_batches():
    """Pollux's co-adaptation (section 3): the optimal batch grows with the allocation."""
    batches = [optimal_batch_size(P, k, -(-k // 8))[0] for k in (1, 2, 4, 8)]
    assert batches == sorted(batches) and batches[-1] > batches[0]


def test_fitness_and_speedup():
    assert fitness([1.0, 1.0]) == 1.0
    assert fitness([2.0, 0.5], p=-1) == pytest.approx(2 / (0.5 + 2.0))
    assert fitness([1.0, 0.0]) == 0.0
    assert speedup(P, 4, 4, 8) == pytest.approx(1.0) and speedup(P, 0, 4, 8) == 0.0
    assert speedup(P, 8, 4, 8) > 1.0


@settings(derandomize=True, max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 8), min_size=1, max_size=5), st.integers(0, 24))
def test_greedy_respects_limits(maxes, total):
    alloc = greedy_allocation([P] * len(maxes), maxes, total, 4)
    assert sum(alloc) <= total and all(0 <= a <= m for a, m in zip(alloc, maxes))
    if total >= len(maxes):
        assert all(a >= 1 for a in alloc)  # nobody starves while there is a GPU for everyone
    # a single added GPU never raises the fitness (the greedy stopped for a reason)
    if sum(alloc) < total and min(alloc) > 0:
        fair = max(1, total // len(maxes))
        cur = [speedup(P, a, min(fair, m), 4) for a, m in zip(alloc, maxes)]
        for j, (a, m) in enumerate(zip(alloc, maxes)):
            if a < m:
                trial = cur[:j] + [speedup(P, a + 1, min(fair, m), 4)] + cur[j + 1:]
                assert fitness(trial) <= fitness(cur) + 1e-9


def test_policy_and_progress_rate():
    c = Cluster.homogeneous(8, per_machine=4)
    jobs = [JobState(Job(i, float(i), 4, 100.0, {"v100": 2.0}, batch_size=64)) for i in range(3)]
    pol = Pollux()
    out = pol.schedule(0.0, jobs, c)
    assert sum(a.gpus for a in out.values()) <= 8 and all(a.batch_size for a in out.values())
    # a job without Pollux parameters runs, at its own gpus and batch, at its stated throughput
    rate = pol.progress_rate(jobs[0], Allocation("v100", 4, (0, 0, 0, 0), 64))
    assert rate == pytest.approx(2.0)
    q = params_for(Job(9, 0.0, 2, 10.0, {"v100": 3.0, "k80": 1.0}, pollux=P), "k80")
    assert q.beta_grad == pytest.approx(3 * P.beta_grad) and q.phi == P.phi


@pytest.mark.parametrize("call", [
    lambda: PolluxParams(0.0, 0.0),
    lambda: PolluxParams(0.1, 0.1, gamma=0.5),
    lambda: PolluxParams(0.1, 0.1, m0=64, max_batch=32),
    lambda: efficiency(-1.0, 32, 32),
    lambda: iteration_time(P, 2, 3, 8),
    lambda: iteration_time(P, 0, 1, 8),
    lambda: optimal_batch_size(P, 0, 1),
    lambda: fitness([]),
    lambda: fitness([1.0], p=0),
    lambda: greedy_allocation([P], [1, 2], 4, 4),
    lambda: Pollux(p=0),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()
