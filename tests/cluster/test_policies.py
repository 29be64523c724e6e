"""Tiresias' 2D-LAS (NSDI'19, sections 3-4): queues against a linear scan, the order against a
second implementation, starvation prevention, and the policy's preemption."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from mlsys_kit.cluster.core import Allocation, Cluster, Job, JobState
from mlsys_kit.cluster.policies import Tiresias, effective_queue, las_queue, order

thresholds = st.lists(st.integers(1, 10_000), min_size=0, max_size=4, unique=True).map(sorted)


@settings(derandomize=True, max_examples=100, deadline=None)
@given(st.floats(0, 20_000), thresholds)
def test_las_queue_is_a_linear_scan(attained, th):
    q = 0
    for t in th:  # Algorithm 1: move down while the service reaches the next threshold
        if attained >= t:
            q += 1
    assert las_queue(attained, th) == q


def test_queue_boundaries():
    assert las_queue(0.0, [3600.0]) == 0
    assert las_queue(3599.9, [3600.0]) == 0
    assert las_queue(3600.0, [3600.0]) == 1  # reaching the threshold demotes
    assert las_queue(10.0, []) == 0  # one queue: plain FIFO


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9000), st.integers(0, 50)), min_size=0, max_size=12), thresholds)
def test_order_matches_a_bucket_implementation(specs, th):
    jobs = [{"id": i, "attained": float(a), "arrival": float(t)} for i, (a, t) in enumerate(specs)]
    before = [dict(j) for j in jobs]
    buckets: dict[int, list] = {}
    for j in jobs:
        q = sum(1 for t in th if j["attained"] >= t)
        buckets.setdefault(q, []).append(j)
    want = []
    for q in sorted(buckets):  # highest priority queue first, FIFO inside (stable by id)
        want += [j["id"] for j in sorted(buckets[q], key=lambda j: (j["arrival"], j["id"]))]
    assert order(jobs, th) == want
    assert jobs == before


def test_promotion_after_waiting():
    th = [100.0]
    # ran 50 s on 4 GPUs (200 GPU-s: queue 1); promote_knob 2: promoted after 100 s of waiting
    assert effective_queue(200.0, 4, 99.9, th, 2.0) == 1
    assert effective_queue(200.0, 4, 100.0, th, 2.0) == 0
    assert effective_queue(0.0, 4, 1e6, th, 2.0) == 0  # never ran: already in queue 0
    assert effective_queue(200.0, 4, 1e9, th, math.inf) == 1  # knob infinite: never promoted


def _state(i, gpus, arrival, attained=0.0, running=None, queued_since=0.0):
    return JobState(Job(i, arrival, gpus, 1000.0, {"v100": 1.0}), attained_service=attained,
                    running_on=running, queued_since=queued_since)


def test_policy_preempts_the_most_served_job():
    c = Cluster.homogeneous(4, per_machine=4)
    old = _state(0, 4, 0.0, attained=8000.0, running=Allocation("v100", 4))
    new = _state(1, 2, 10.0, queued_since=10.0)
    out = Tiresias(thresholds=(3600.0,)).schedule(20.0, [old, new], c)
    assert set(out) == {1}  # the newcomer (queue 0) displaces the long-running job (queue 1)
    # work conservation: the small job behind a blocked one still starts
    a, b = _state(2, 4, 2.0), _state(3, 2, 5.0)
    blocker = _state(4, 2, 1.0, running=Allocation("v100", 2))
    out = Tiresias().schedule(6.0, [blocker, a, b], c)
    assert set(out) == {4, 3}
    assert sum(x.gpus for x in out.values()) <= 4


def test_policy_promotes_a_starving_job():
    c = Cluster.homogeneous(2, per_machine=2)
    starving = _state(0, 2, 0.0, attained=7200.0, queued_since=100.0)  # ran 3600 s on 2 GPUs
    fresh = _state(1, 2, 50.0, attained=10.0, running=Allocation("v100", 2))
    pol = Tiresias(thresholds=(3600.0,), promote_knob=1.0)
    assert set(pol.schedule(100.0 + 3599.0, [starving, fresh], c)) == {1}
    assert set(pol.schedule(100.0 + 3600.0, [starving, fresh], c)) == {0}  # FIFO in queue 0: it arrived first


@pytest.mark.parametrize("call", [
    lambda: las_queue(-1.0, [10.0]),
    lambda: las_queue(1.0, [10.0, 5.0]),
    lambda: las_queue(1.0, [0.0]),
    lambda: las_queue(float("nan"), [1.0]),
    lambda: effective_queue(1.0, 0, 1.0, [1.0]),
    lambda: effective_queue(1.0, 1, -1.0, [1.0]),
    lambda: effective_queue(1.0, 1, 1.0, [1.0], promote_knob=0),
    lambda: Tiresias(thresholds=(5.0, 5.0)),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()
