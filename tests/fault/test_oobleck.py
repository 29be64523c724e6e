"""Oobleck (SOSP'23): templates cover every node count from n0 up, the batch split is balanced
and sums to the batch, one pipeline's step equals the pipeline simulator's makespan, throughput
falls with failures but the job keeps running, and reconfiguring beats restarting."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlsys_kit.fault.oobleck import Template, compare, instantiate, make_templates, step_time
from mlsys_kit.pipeline.generators import one_f_one_b
from mlsys_kit.pipeline.simulate import simulate


@given(st.integers(1, 4), st.data())
def test_templates_cover_every_node_count_from_n0(n0, data):
    layers = data.draw(st.integers(2 * n0 - 1, 16))
    temps = make_templates(layers, n0)
    assert [t.nodes for t in temps] == list(range(n0, 2 * n0))
    assert all(sum(t.layers) == layers and max(t.layers) - min(t.layers) <= 1 for t in temps)
    nodes = data.draw(st.integers(n0, 3 * n0))
    pipes, _ = instantiate(nodes, temps, 8, 0.01, 0.02)
    assert sum(p.nodes for p in pipes) == nodes


def test_one_pipeline_step_is_the_simulators_makespan():
    t = Template(4, (2, 2, 1, 1))
    got, share = step_time([t], 8, 0.01, 0.02)
    want = simulate(one_f_one_b(4, 8), t_f=[0.02, 0.02, 0.01, 0.01], t_b=[0.04, 0.04, 0.02, 0.02], t_w=0.0).makespan
    assert share == [8] and got == pytest.approx(want)


@given(st.lists(st.integers(2, 5), min_size=1, max_size=4), st.integers(8, 40))
def test_batch_split_sums_and_is_balanced(sizes, batch):
    pipes = [make_templates(10, n)[0] for n in sizes]
    t, share = step_time(pipes, batch, 0.01, 0.02)
    assert sum(share) == batch
    # moving one microbatch off any pipeline that has some cannot shorten the step by much
    for i, s in enumerate(share):
        if s == 0:
            continue
        for j in range(len(pipes)):
            if j != i:
                moved = list(share)
                moved[i] -= 1
                moved[j] += 1
                alt = max(step_time([p], m, 0.01, 0.02)[0] if m else 0.0 for p, m in zip(pipes, moved))
                assert alt >= t - 0.03 - 1e-9  # within one microbatch's time on the slowest stage


def test_throughput_falls_with_failures_and_reconfiguring_beats_restarting():
    out = compare(failures=4)
    thr = [r["throughput"] for r in out["rows"]]
    assert all(a >= b for a, b in zip(thr, thr[1:])) and thr[-1] > 0
    assert out["speedup"] > 1
    assert compare(failures=0)["speedup"] == pytest.approx(1.0)
    assert compare(failures=2, restart_s=0.0, reconfigure_s=0.0, checkpoint_interval_h=1e-9)["speedup"] == pytest.approx(1.0)


def test_min_pipelines_for_fault_tolerance():
    temps = make_templates(12, 3)
    pipes, _ = instantiate(12, temps, 16, 0.01, 0.02, min_pipelines=3)
    assert len(pipes) >= 3
    with pytest.raises(ValueError, match="no combination"):
        instantiate(5, temps, 16, 0.01, 0.02, min_pipelines=2)


@pytest.mark.parametrize("call", [
    lambda: make_templates(3, 3), lambda: make_templates(0, 1), lambda: step_time([], 4, 1, 1),
    lambda: step_time([Template(1, (1,))], 0, 1, 1), lambda: instantiate(2, make_templates(6, 3), 4, 0.1, 0.1),
    lambda: compare(hours=0), lambda: instantiate(4, [], 4, 1, 1), lambda: Template(2, (1,)),
    lambda: Template(1, (0,))])
def test_bad_input(call):
    with pytest.raises(ValueError):
        call()
