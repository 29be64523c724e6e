"""The simulator: cases computed by hand, a time-stepped second implementation, and properties
(every job finishes once, JCT >= ideal runtime, capacity never exceeded, FIFO order, no idle
GPU while a 1-GPU job waits)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlsys_kit.cluster.core import FIFO, SRTF, Allocation, Cluster, Job, Machine
from mlsys_kit.cluster.metrics import summarize
from mlsys_kit.cluster.simulate import simulate


def one_gpu(n: int = 1) -> Cluster:
    return Cluster([Machine("v100", n)])


def test_fifo_by_hand():
    jobs = [Job(0, 0.0, 1, 10, {"v100": 1.0}), Job(1, 1.0, 1, 5, {"v100": 1.0})]
    res = simulate(jobs, one_gpu(), FIFO())
    assert [s.finish for s in res.states] == pytest.approx([10, 15])
    assert [s.queueing_delay for s in res.states] == pytest.approx([0, 9])
    m = summarize(res)
    assert m["avg_jct"] == pytest.approx((10 + 14) / 2) and m["makespan"] == pytest.approx(15)
    assert m["utilization"] == pytest.approx(1.0) and m["jobs_finished"] == 2


def test_srtf_preempts_and_pays_the_restart_cost():
    jobs = [Job(0, 0.0, 1, 10, {"v100": 1.0}), Job(1, 1.0, 1, 5, {"v100": 1.0})]
    res = simulate(jobs, one_gpu(), SRTF(), restart_cost=2.0)
    # job 1 (5 s left < 9 s) preempts job 0 at t=1 and ends at 6; job 0 restarts: 2 s + 9 s
    assert [s.finish for s in res.states] == pytest.approx([17, 6])
    assert res.states[0].n_preemptions == 1 and res.states[1].n_preemptions == 0
    assert summarize(res)["utilization"] == pytest.approx(1.0)  # the restart holds the GPU


def test_a_gang_spread_wider_than_needed_runs_slower():
    c = Cluster([Machine("v100", 4), Machine("v100", 4)])
    jobs = [Job(0, 0.0, 3, 100, {"v100": 1.0}), Job(1, 0.0, 3, 100, {"v100": 1.0}),
            Job(2, 0.0, 2, 10, {"v100": 1.0})]
    res = simulate(jobs, c, FIFO(), spread_factor=0.5, record=True)
    assert res.states[2].running_on is None and res.states[2].finish == pytest.approx(20)  # 10 / 0.5
    seg = [g for g in res.segments if g.job == 2][0]
    assert sorted(seg.machines) == [0, 1]


def test_heterogeneous_fifo_takes_the_fastest_type_with_room():
    c = Cluster([Machine("k80", 1), Machine("v100", 1)])
    jobs = [Job(0, 0.0, 1, 10, {"v100": 2.0, "k80": 1.0}), Job(1, 0.0, 1, 10, {"v100": 2.0, "k80": 1.0})]
    res = simulate(jobs, c, FIFO(), record=True)
    assert [s.finish for s in res.states] == pytest.approx([5, 10])
    assert [g.gpu_type for g in sorted(res.segments, key=lambda g: g.job)] == ["v100", "k80"]


def stepped_fifo(jobs: list[Job], gpus: int) -> dict[int, float]:
    """A second implementation: FIFO on one machine, integer arrivals and durations, advanced one
    second at a time."""
    left = {j.id: int(j.iterations) for j in jobs}
    queue = sorted(jobs, key=lambda j: (j.arrival, j.id))
    running: list[Job] = []
    finish: dict[int, float] = {}
    t = 0
    while len(finish) < len(jobs):
        for j in list(running):
            if left[j.id] == 0:
                running.remove(j)
                finish[j.id] = t
        waiting = [j for j in queue if j.arrival <= t and j.id not in finish and j not in running]
        for j in waiting:
            if sum(r.gpus for r in running) + j.gpus > gpus:
                break
            running.append(j)
        for j in running:
            left[j.id] -= 1
        t += 1
    return finish


job_lists = st.lists(st.tuples(st.integers(0, 20), st.integers(1, 4), st.integers(1, 15)), min_size=1, max_size=12)


@given(job_lists)
def test_fifo_equals_the_time_stepped_second_implementation(spec):
    jobs = [Job(i, float(a), g, float(d), {"v100": 1.0}) for i, (a, g, d) in enumerate(spec)]
    res = simulate(jobs, one_gpu(4), FIFO())
    want = stepped_fifo(jobs, 4)
    assert {s.id: s.finish for s in res.states} == pytest.approx(want)


hetero_jobs = st.lists(st.tuples(st.floats(0, 50), st.sampled_from([1, 1, 2, 3, 4, 8]), st.floats(1, 40),
                                 st.floats(0.2, 1.0), st.booleans()), min_size=1, max_size=15)


def build(spec):
    jobs = []
    for i, (a, g, it, k80, only_v100) in enumerate(spec):
        tp = {"v100": 1.0} if only_v100 else {"v100": 1.0, "k80": k80}
        jobs.append(Job(i, a, g, it, tp))
    return jobs


CLUSTER = Cluster([Machine("v100", 4), Machine("v100", 4), Machine("k80", 4), Machine("k80", 2)])


@given(hetero_jobs, st.sampled_from([FIFO, SRTF]), st.floats(0, 5), st.floats(0.3, 1.0))
def test_properties(spec, policy, restart, spread):
    jobs = build(spec)
    res = simulate(jobs, CLUSTER, policy(), restart_cost=restart, spread_factor=spread, record=True)
    # every job finishes exactly once, all its work done, never before its ideal runtime
    assert len(res.states) == len(jobs) and all(s.finish is not None for s in res.states)
    for s in res.states:
        assert s.done_iterations == s.job.iterations and s.running_on is None
        assert s.finish - s.job.arrival >= s.job.ideal_runtime() * (1 - 1e-9)
        mine = [g for g in res.segments if g.job == s.id]
        assert max(g.end for g in mine) == pytest.approx(s.finish)
        assert all(g.start >= s.job.arrival - 1e-9 for g in mine)
        assert s.n_preemptions <= len(mine) - 1
    # GPU-seconds held == the segments' sum; no machine ever holds more GPUs than it has
    assert res.busy_gpu_seconds == pytest.approx(sum(len(g.machines) * (g.end - g.start) for g in res.segments))
    times = sorted({g.start for g in res.segments})
    for t in times:
        for m, mach in enumerate(CLUSTER.machines):
            used = sum(g.machines.count(m) for g in res.segments if g.start <= t < g.end)
            assert used <= mach.gpus
            assert all(CLUSTER.machines[x].gpu_type == g.gpu_type for g in res.segments for x in g.machines)
    assert 0 < summarize(res)["utilization"] <= 1 + 1e-9


@given(st.lists(st.tuples(st.floats(0, 30), st.floats(1, 20)), min_size=1, max_size=15))
def test_fifo_starts_in_arrival_order_and_never_idles_a_gpu_while_a_job_waits(spec):
    jobs = [Job(i, a, 1, d, {"v100": 1.0}) for i, (a, d) in enumerate(spec)]
    c = Cluster([Machine("v100", 2), Machine("v100", 1)])
    res = simulate(jobs, c, FIFO(), record=True)
    order = sorted(res.states, key=lambda s: (s.job.arrival, s.id))
    assert all(a.start <= b.start + 1e-9 for a, b in zip(order, order[1:]))
    for s in res.states:
        if s.start > s.job.arrival + 1e-9:  # it waited: all 3 GPUs were busy meanwhile
            for t in (s.job.arrival, (s.job.arrival + s.start) / 2):
                assert sum(1 for g in res.segments if g.start <= t < g.end and g.job != s.id) == 3


def test_bad_input_is_rejected():
    j = Job(0, 0.0, 1, 10, {"v100": 1.0})
    with pytest.raises(ValueError, match="unique"):
        simulate([j, j], one_gpu(), FIFO())
    with pytest.raises(ValueError, match="asks for 2 GPUs"):
        simulate([Job(0, 0.0, 2, 10, {"v100": 1.0})], one_gpu(), FIFO())
    with pytest.raises(ValueError, match="restart_cost"):
        simulate([j], one_gpu(), FIFO(), restart_cost=-1)
    with pytest.raises(ValueError, match="spread_factor"):
        simulate([j], one_gpu(), FIFO(), spread_factor=0)

    class Greedy:
        name, round_based = "greedy", False

        def schedule(self, now, jobs, cluster):
            return {s.id: Allocation("v100", 2) for s in jobs}

    with pytest.raises(ValueError, match="handed out 2 GPUs"):
        simulate([Job(0, 0.0, 1, 10, {"v100": 1.0})], one_gpu(), Greedy())

    class Lazy:
        name, round_based = "lazy", False

        def schedule(self, now, jobs, cluster):
            return {}

    with pytest.raises(ValueError, match="idle cluster"):
        simulate([j], one_gpu(), Lazy())
    for bad in (dict(id=True), dict(gpus=0), dict(iterations=0), dict(throughput={}), dict(arrival=-1)):
        kw = dict(id=0, arrival=0.0, gpus=1, iterations=1.0, throughput={"v100": 1.0}) | bad
        with pytest.raises(ValueError):
            Job(**kw)
    with pytest.raises(ValueError):
        Cluster([])
    with pytest.raises(ValueError):
        Allocation("v100", 2, machines=(0,))
