"""The FIFO fast path equals the teaching path: same start and finish of every job, same
placement, same utilisation, on random heterogeneous clusters and Philly/PAI-shaped traces."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlsys_kit.cluster.core import FIFO, Cluster, Machine
from mlsys_kit.cluster.fastsim import simulate_fifo
from mlsys_kit.cluster.metrics import summarize
from mlsys_kit.cluster.simulate import simulate
from mlsys_kit.cluster.workload import generate


def same(a, b):
    assert [s.id for s in a.states] == [s.id for s in b.states]
    for x, y in zip(a.states, b.states):
        assert (x.start, x.finish, x.queueing_delay) == pytest.approx((y.start, y.finish, y.queueing_delay), rel=1e-9)
    ma, mb = summarize(a), summarize(b)
    for k in ("avg_jct", "p99_jct", "makespan", "utilization", "avg_ftf", "jobs_finished"):
        assert ma[k] == pytest.approx(mb[k], rel=1e-9)
    key = lambda g: g.job  # noqa: E731
    assert [(g.job, g.gpu_type, g.machines) for g in sorted(a.segments, key=key)] == \
           [(g.job, g.gpu_type, g.machines) for g in sorted(b.segments, key=key)]


@given(st.integers(0, 10_000), st.sampled_from(["philly", "pai"]), st.floats(0.3, 1.5), st.floats(0.3, 1.0),
       st.lists(st.tuples(st.sampled_from(["v100", "p100", "k80"]), st.sampled_from([2, 4, 8])), min_size=1, max_size=5))
def test_fast_fifo_equals_the_teaching_path(seed, spec, load, spread, machines):
    c = Cluster([Machine(t, g) for t, g in machines])
    jobs = generate(60, spec, gpus=c.total_gpus, load=load, gpu_types=c.gpu_types, seed=seed,
                    max_size=max(c.gpus_per_type().values()))
    same(simulate_fifo(jobs, c, spread_factor=spread, record=True),
         simulate(jobs, c, FIFO(), spread_factor=spread, record=True))


def test_fast_fifo_on_a_bigger_trace():
    c = Cluster.from_counts({"v100": 64, "k80": 32})
    jobs = generate(1500, "philly", gpus=96, load=0.9, gpu_types=c.gpu_types, seed=7, max_size=64)
    same(simulate_fifo(jobs, c, record=True), simulate(jobs, c, FIFO(), record=True))
