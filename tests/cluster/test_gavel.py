"""Gavel's LPs (OSDI'20, section 4.1) against a brute-force grid, the constraints of a valid
allocation, the agnostic twin, round-based realisation (section 5) and the policy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from mlsys_kit.cluster.core import Cluster, Job, JobState
from mlsys_kit.cluster.gavel import (
    Gavel, check_allocation, effective_throughput, equal_share, finish_time_fairness_allocation,
    max_min_allocation, round_assignment,
)

GRID = np.linspace(0.0, 1.0, 21)


def _valid_grid(T, scale, cap):
    """Every valid X on a 0.05 grid (2 jobs x 2 types), as an array [n, 2, 2]."""
    X = np.array(list(itertools.product(GRID, repeat=4))).reshape(-1, 2, 2)
    ok = np.all(X.sum(2) <= 1 + 1e-9, axis=1)
    ok &= np.all((X * np.array(scale)[None, :, None]).sum(1) <= np.array(cap)[None, :] + 1e-9, axis=1)
    ok &= ~np.any((np.array(T) == 0)[None] & (X > 0), axis=(1, 2))
    too_small = np.array(scale)[:, None] > np.array(cap)[None, :]  # a gang never runs on fewer GPUs than it needs
    ok &= ~np.any(too_small[None] & (X > 0), axis=(1, 2))
    return X[ok]


def _norm_min(T, scale, cap, X):
    """min_m throughput(m, X) / throughput(m, X_equal) for one X [2, 2] or a stack [n, 2, 2]."""
    norm = np.array(effective_throughput(T, equal_share(T, scale, cap)))
    return ((np.array(T) * np.asarray(X)).sum(-1) / norm).min(-1)


matrices = st.lists(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 5.0]), min_size=2, max_size=2),
                    min_size=2, max_size=2).filter(lambda T: all(max(r) > 0 for r in T))


@settings(derandomize=True, max_examples=12, deadline=None)
@given(matrices, st.tuples(st.integers(1, 2), st.integers(1, 2)), st.tuples(st.integers(1, 2), st.integers(1, 2)))
def test_max_min_lp_matches_brute_force_grid(T, scale, cap):
    assume(all(any(t > 0 and s <= c for t, c in zip(row, cap)) for row, s in zip(T, scale)))
    X = max_min_allocation(T, scale, cap)
    check_allocation(X, scale, cap)
    lp = _norm_min(T, scale, cap, X)
    grid = float(_norm_min(T, scale, cap, _valid_grid(T, scale, cap)).max())
    assert lp >= grid - 1e-7  # the LP is at least as good as every grid point ...
    assert lp <= grid + 0.1 * max(1.0, grid)  # ... and the grid (step 0.05) comes close to it


@settings(derandomize=True, max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 3), st.data())
def test_every_allocation_is_valid(n, k, data):
    T = [[data.draw(st.sampled_from([0.0, 0.3, 1.0, 2.5])) for _ in range(k)] for _ in range(n)]
    for row in T:
        row[data.draw(st.integers(0, k - 1))] = 1.0
    scale = [data.draw(st.integers(1, 4)) for _ in range(n)]
    cap = [data.draw(st.integers(4, 6)) for _ in range(k)]
    for aware in (True, False):
        X = np.array(max_min_allocation(T, scale, cap, heterogeneity_aware=aware))
        check_allocation(X, scale, cap)
        assert np.all(X[np.array(T) == 0] == 0)  # never on a type the job cannot use
        assert np.all(X[np.array(scale)[:, None] > np.array(cap)[None, :]] == 0)  # nor one too small for it
        X = np.array(finish_time_fairness_allocation(T, scale, cap, [10.0] * n, [0.0] * n, heterogeneity_aware=aware))
        check_allocation(X, scale, cap, tol=1e-6)


def test_aware_beats_agnostic_on_its_own_objective():
    """Gavel's figure 1 situation: a job gains 10x on V100, another barely cares."""
    T = [[10.0, 1.0], [1.2, 1.0], [4.0, 1.0]]
    scale, cap = [1, 1, 1], [1, 1]
    aware = max_min_allocation(T, scale, cap)
    agnostic = max_min_allocation(T, scale, cap, heterogeneity_aware=False)
    assert _norm_min(T, scale, cap, aware) > _norm_min(T, scale, cap, agnostic) + 1e-6
    assert sum(effective_throughput(T, aware)) >= sum(effective_throughput(T, agnostic)) - 1e-9


def test_weights_tilt_the_allocation():
    T, scale, cap = [[1.0], [1.0]], [1, 1], [1]
    X = max_min_allocation(T, scale, cap, weights=[1.0, 3.0])
    assert X[0][0] == pytest.approx(0.25) and X[1][0] == pytest.approx(0.75)  # weight 3: three times the share


def test_finish_time_fairness_against_grid():
    T, scale, cap = [[3.0, 1.0], [2.0, 1.5]], [1, 1], [1, 1]
    rem, el = [30.0, 10.0], [5.0, 0.0]
    iso = effective_throughput(T, equal_share(T, scale, cap))

    def worst_rho(X):
        thr = (np.array(T) * np.asarray(X)).sum(-1)
        with np.errstate(divide="ignore"):
            rho = (np.array(el) + np.array(rem) / thr) / (np.array(el) + np.array(rem) / np.array(iso))
        return rho.max(-1)

    X = finish_time_fairness_allocation(T, scale, cap, rem, el)
    grid = float(worst_rho(_valid_grid(T, scale, cap)).min())
    assert worst_rho(X) <= grid + 1e-6
    assert worst_rho(X) >= grid - 0.1


def test_round_assignment_follows_priority_and_capacity():
    X = [[0.5, 0.0], [0.5, 0.5], [0.0, 1.0]]
    # job 1 has had many rounds on type 0, job 0 few: job 0 first on type 0
    got = round_assignment(X, [[1, 0], [9, 1], [3, 3]], [1, 1, 1], [1, 1])
    assert got[0] == 0 and 0 not in [j for m, j in got.items() if m != 0]
    # never served pairs come first; each job at most one type; capacity respected
    got = round_assignment(X, [[0, 0], [0, 0], [0, 0]], [2, 1, 1], [2, 1])
    assert sum((2, 1, 1)[m] for m, j in got.items() if j == 0) <= 2 and sum(1 for m, j in got.items() if j == 1) <= 1


def test_long_run_of_rounds_realises_x():
    """Gavel section 5: over many rounds the time each job gets on each type approaches X."""
    X = np.array(max_min_allocation([[4.0, 1.0], [2.0, 1.5], [1.0, 1.0]], [1, 1, 1], [1, 1]))
    rec = np.zeros_like(X)
    rounds = 600
    for _ in range(rounds):
        for m, j in round_assignment(X, rec, [1, 1, 1], [1, 1]).items():
            rec[m, j] += 1
    assert np.allclose(rec / rounds, X, atol=0.02)


def _states(specs):
    return [JobState(Job(i, 0.0, g, 100.0, thr)) for i, (g, thr) in enumerate(specs)]


def test_policy_fits_the_cluster_and_names():
    c = Cluster.from_counts({"v100": 4, "k80": 4}, per_machine=4)
    jobs = _states([(2, {"v100": 3.0, "k80": 1.0}), (1, {"k80": 1.0}), (4, {"v100": 2.0, "k80": 1.0}), (2, {"v100": 1.0})])
    for obj in ("max_min", "las", "ftf"):
        for aware in (True, False):
            pol = Gavel(obj, aware)
            out = pol.schedule(0.0, jobs, c)
            used = {"v100": 0, "k80": 0}
            for jid, a in out.items():
                used[a.gpu_type] += a.gpus
                assert a.gpu_type in jobs[jid].job.throughput and a.gpus == jobs[jid].job.gpus
            assert used["v100"] <= 4 and used["k80"] <= 4 and out
    assert Gavel("las", False).name == "gavel-las-agnostic" and Gavel().round_based


@pytest.mark.parametrize("call", [
    lambda: max_min_allocation([[1.0, 0.0], [0.0, 0.0]], [1, 1], [1, 1]),
    lambda: max_min_allocation([[1.0]], [0], [1]),
    lambda: max_min_allocation([[1.0, 0.0]], [2], [1, 4]),  # fits only where it cannot run
    lambda: max_min_allocation([[1.0]], [1], [1], weights=[0.0]),
    lambda: max_min_allocation([[-1.0]], [1], [1]),
    lambda: check_allocation([[0.7, 0.7]], [1], [1, 1]),
    lambda: check_allocation([[1.0], [1.0]], [1, 1], [1]),
    lambda: effective_throughput([[1.0]], [[1.0, 0.0]]),
    lambda: finish_time_fairness_allocation([[1.0]], [1], [1], [0.0], [0.0]),
    lambda: round_assignment([[1.0]], [[0.0, 0.0]], [1], [1]),
    lambda: Gavel("fastest"),
    lambda: Gavel("max_min", heterogeneity_aware="yes"),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()
