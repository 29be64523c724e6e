"""Generators, validator and simulator: the papers' closed forms, and a second implementation."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlsys_kit.pipeline.generators import SCHEDULES, gpipe, interleaved_1f1b, make_schedule, one_f_one_b, zb_h1, zb_v
from mlsys_kit.pipeline.schedule import Action, Schedule
from mlsys_kit.pipeline.simulate import simulate
from mlsys_kit.pipeline.validate import ScheduleError, is_valid, validate
from mlsys_kit.pipeline.validate import dependencies

EXAMPLES = settings(max_examples=40, deadline=None)
costs = st.floats(min_value=0.25, max_value=4.0, allow_nan=False)


# ---------- closed forms (uniform costs, no latency) ----------

@EXAMPLES
@given(p=st.integers(1, 10), extra=st.integers(0, 24), tf=costs, tb=costs, tw=costs)
def test_gpipe_and_1f1b_bubble_is_p_minus_1_over_m(p, extra, tf, tb, tw):
    m = p + extra
    for sched in (gpipe(p, m), one_f_one_b(p, m)):
        r = simulate(sched, tf, tb, tw)
        assert r.bubble_fraction == pytest.approx((p - 1) / m, abs=1e-9)
        assert r.makespan == pytest.approx((m + p - 1) * (tf + tb + tw))


@EXAMPLES
@given(p=st.integers(1, 8), m=st.integers(1, 40))
def test_peak_activations_gpipe_m_and_1f1b_p(p, m):
    assert max(simulate(gpipe(p, m)).peak_activations) == m
    if m >= p:
        peaks = simulate(one_f_one_b(p, m)).peak_activations
        assert peaks == [p - r for r in range(p)]  # rank r holds its warm-up p-r-1 plus one


@EXAMPLES
@given(p=st.integers(1, 8), rounds=st.integers(1, 5), v=st.integers(1, 5), tf=costs, tb=costs, tw=costs)
def test_interleaved_bubble_is_p_minus_1_over_v_m(p, rounds, v, tf, tb, tw):
    m = p * rounds
    r = simulate(interleaved_1f1b(p, m, v), tf, tb, tw)
    assert r.schedule.chunks == v
    assert r.bubble_fraction == pytest.approx((p - 1) / (v * m), abs=1e-9)


@EXAMPLES
@given(p=st.integers(1, 10), extra=st.integers(0, 20), tf=costs, tb=costs, data=st.data())
def test_zb_h1_idle_per_rank_is_p_minus_1_times_tf_plus_tb_minus_tw(p, extra, tf, tb, data):
    tw = data.draw(st.floats(min_value=0.0, max_value=min(tf, tb)))  # regime of the formula: t_W <= t_F, t_B
    m = p + extra
    r = simulate(zb_h1(p, m), tf, tb, tw)
    for idle in r.idle:
        assert idle == pytest.approx((p - 1) * (tf + tb - tw), abs=1e-9)
    assert max(r.peak_activations) == p  # same peak memory as 1F1B
    one = simulate(one_f_one_b(p, m), tf, tb, tw)
    assert r.makespan <= one.makespan + 1e-9


@pytest.mark.parametrize("p", [2, 3, 4, 6])
def test_zb_v_beats_zb_h1_and_keeps_1f1b_memory(p):
    m = 4 * p
    v, h1 = simulate(zb_v(p, m)), simulate(zb_h1(p, m))
    assert v.bubble_fraction < h1.bubble_fraction
    assert max(v.peak_activations) <= p
    assert v.schedule.placement[0] == v.schedule.placement[-1] == 0  # V: first and last stage share rank 0


# ---------- generators ----------

@EXAMPLES
@given(p=st.integers(1, 8), m=st.integers(1, 20), v=st.integers(1, 4))
def test_every_generated_schedule_is_valid_or_refused(p, m, v):
    for name in SCHEDULES:
        try:
            sched = make_schedule(name, p, m, v)
        except ValueError as exc:
            assert str(exc)  # refused with a reason
            continue
        validate(sched)
        assert sched.num_microbatches == m and sched.num_ranks == p


@pytest.mark.parametrize("call, needle", [
    (lambda: one_f_one_b(4, 2), "at least as many microbatches as stages: got m=2, p=4"),
    (lambda: zb_h1(4, 3), "at least as many microbatches"),
    (lambda: interleaved_1f1b(4, 6, 2), "multiple of p"),
    (lambda: interleaved_1f1b(4, 8, 0), "v (chunks per rank) must be a positive integer"),
    (lambda: gpipe(0, 4), "p (stages) must be a positive integer"),
    (lambda: make_schedule("dualpipe", 2, 2), "schedule must be one of"),
])
def test_generators_refuse_what_they_cannot_do(call, needle):
    with pytest.raises(ValueError, match=None) as info:
        call()
    assert needle in str(info.value)


def test_text_round_trip():
    sched = zb_v(3, 6)
    back = Schedule.from_text(sched.to_text(), sched.placement, 6)
    assert back.ranks == sched.ranks


# ---------- validator ----------

def _hand(text: str, p: int = 2, m: int = 2) -> Schedule:
    return Schedule.from_text(text, list(range(p)), m)


def test_validator_names_missing_action():
    with pytest.raises(ScheduleError, match=r"missing action: BW1@s1"):
        validate(_hand("F0@s0 F1@s0 BW0@s0 BW1@s0\nF0@s1 BW0@s1 F1@s1"))


def test_validator_names_duplicate():
    with pytest.raises(ScheduleError, match=r"rank 1 step 2: F0@s1 runs twice \(first at rank 1 step 0\)"):
        validate(_hand("F0@s0 F1@s0 BW0@s0 BW1@s0\nF0@s1 BW0@s1 F0@s1 F1@s1 BW1@s1"))


def test_validator_names_wrong_rank_and_mixing():
    with pytest.raises(ScheduleError, match="placed on rank 0, not rank 1"):
        validate(_hand("F0@s0 F1@s0 BW0@s0\nF0@s1 BW0@s1 F1@s1 BW1@s1 BW1@s0"))
    with pytest.raises(ScheduleError, match="mixes the fused backward"):
        validate(_hand("F0@s0 F1@s0 BW0@s0 W0@s0 BW1@s0\nF0@s1 BW0@s1 F1@s1 BW1@s1"))


def test_validator_names_intra_rank_order():
    with pytest.raises(ScheduleError) as info:
        validate(_hand("F0@s0 F1@s0 BW0@s0 BW1@s0\nBW0@s1 F0@s1 F1@s1 BW1@s1"))
    e = info.value
    assert (e.rank, e.step, str(e.action), e.waits_for) == (1, 0, "BW0@s1", "F0@s1")


def test_validator_names_deadlock_cycle():
    # rank 0 waits for the gradient of microbatch 0 before sending microbatch 1's activation,
    # while rank 1 insists on F1 before BW0.
    with pytest.raises(ScheduleError) as info:
        validate(_hand("F0@s0 BW0@s0 F1@s0 BW1@s0\nF0@s1 F1@s1 BW0@s1 BW1@s1"))
    e = info.value
    assert "deadlock" in str(e) and (e.rank, e.step, str(e.action)) == (0, 1, "BW0@s0")
    assert e.waits_for == "BW0@s1 (rank 1, step 2)"
    assert "rank 1 is stuck at step 1 on F1@s1, waiting for F1@s0 (rank 0, step 2)" in str(e)


def _random_valid(p: int, m: int, v: int, split: bool, rng: random.Random) -> Schedule:
    """A random schedule built in a global topological order (so valid), with looped placement."""
    S = p * v
    placement = [s % p for s in range(S)]
    todo = [Action("F", i, s) for s in range(S) for i in range(m)]
    todo += [Action(k, i, s) for s in range(S) for i in range(m) for k in (("B", "W") if split else ("BW",))]
    done: set = set()
    ranks: list[list[Action]] = [[] for _ in range(p)]
    from mlsys_kit.pipeline.validate import provides
    while todo:
        ready = [a for a in todo if all(d in done for d in dependencies(a, S))]
        a = rng.choice(ready)
        todo.remove(a)
        done.update(provides(a))
        ranks[placement[a.stage]].append(a)
    return Schedule(ranks, placement, m)


def _longest_path(sched: Schedule, cost, latency: float) -> float:
    """Second implementation of the makespan: longest path through the dependency DAG."""
    where = {}
    from mlsys_kit.pipeline.validate import provides
    for r, i, a in sched.actions():
        for k in provides(a):
            where[k] = (r, i)
    finish: dict[tuple[int, int], float] = {}

    def end(r: int, i: int) -> float:
        if (r, i) not in finish:
            a = sched.ranks[r][i]
            start = end(r, i - 1) if i else 0.0
            for d in dependencies(a, sched.num_stages):
                dr, di = where[d]
                start = max(start, end(dr, di) + (latency if dr != r else 0.0))
            finish[(r, i)] = start + cost(a)
        return finish[(r, i)]

    return max(end(r, len(acts) - 1) for r, acts in enumerate(sched.ranks) if acts)


@settings(max_examples=30, deadline=None)
@given(p=st.integers(1, 4), m=st.integers(1, 5), v=st.integers(1, 2), split=st.booleans(),
       seed=st.integers(0, 10**6), lat=st.floats(0, 2))
def test_random_valid_schedules_simulate_like_longest_path(p, m, v, split, seed, lat):
    rng = random.Random(seed)
    sched = _random_valid(p, m, v, split, rng)
    validate(sched)
    S = sched.num_stages
    tf = [rng.uniform(0.5, 2) for _ in range(S)]
    tb = [rng.uniform(0.5, 2) for _ in range(S)]
    tw = [rng.uniform(0.0, 2) for _ in range(S)]
    r = simulate(sched, tf, tb, tw, latency=lat)
    cost = {"F": tf, "B": tb, "W": tw, "BW": [b + w for b, w in zip(tb, tw)]}
    assert r.makespan == pytest.approx(_longest_path(sched, lambda a: cost[a.kind][a.stage], lat))
    assert len(r.events) == sum(len(a) for a in sched.ranks)


@settings(max_examples=30, deadline=None)
@given(p=st.integers(2, 4), m=st.integers(2, 5), seed=st.integers(0, 10**6))
def test_swapping_a_dependency_pair_is_caught(p, m, seed):
    rng = random.Random(seed)
    sched = _random_valid(p, m, 1, False, rng)
    acts = sched.ranks[p - 1]  # last stage: BW(i) depends on F(i) on the same rank
    i = next(k for k, a in enumerate(acts) if a.kind == "BW")
    j = acts.index(Action("F", acts[i].microbatch, p - 1))
    acts[i], acts[j] = acts[j], acts[i]
    assert not is_valid(sched)


def test_latency_adds_per_hop():
    p, m, lat = 4, 8, 0.5
    base, slow = simulate(gpipe(p, m)), simulate(gpipe(p, m), latency=lat)
    # the fill and the drain each cross p-1 links once
    assert slow.makespan == pytest.approx(base.makespan + 2 * (p - 1) * lat)


def test_simulate_checks_inputs():
    with pytest.raises(ValueError, match="t_f must be a positive finite number"):
        simulate(gpipe(2, 2), t_f=0)
    with pytest.raises(ValueError, match="one number per stage"):
        simulate(gpipe(2, 2), t_b=[1, 2, 3])
    with pytest.raises(ValueError, match="latency must be a non-negative"):
        simulate(gpipe(2, 2), latency=-1)


@EXAMPLES
@given(p=st.integers(1, 6), m=st.integers(1, 12))
def test_blocking_sends_gpipe_survives_and_naive_1f1b_deadlocks(p, m):
    validate(gpipe(p, m), blocking_send=True)
    if m >= p >= 2:
        sched = one_f_one_b(p, m)
        validate(sched)  # fine with isend
        with pytest.raises(ScheduleError, match="deadlock under blocking send/recv") as info:
            validate(sched, blocking_send=True)
        assert info.value.rank == 0 and info.value.action == Action("F", p - 1, 0)  # its first steady-state send


def test_blocking_send_message_names_both_sides():
    with pytest.raises(ScheduleError) as info:
        validate(one_f_one_b(2, 4), blocking_send=True)
    msg = str(info.value)
    assert "rank 0 is blocked at step 1 in the send of F1@s0's output to rank 1, which must first reach F1@s1" in msg
    assert "rank 1 is blocked at step 1 in the send of BW0@s1's output to rank 0, which must first reach BW0@s0" in msg


@pytest.mark.parametrize("p, m", [(2, 4), (4, 8), (3, 9)])
def test_costs_per_rank_compare_schedules_on_the_same_model(p, m):
    base = simulate(one_f_one_b(p, m), costs_per_rank=True)
    inter = simulate(interleaved_1f1b(p, m, 2), costs_per_rank=True)
    assert sum(inter.busy) == pytest.approx(sum(base.busy))  # the same work
    assert inter.makespan < base.makespan  # interleaving shrinks the bubble on the same model
    assert inter.bubble_fraction == pytest.approx(simulate(interleaved_1f1b(p, m, 2)).bubble_fraction)


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(SCHEDULES), p=st.integers(1, 9), m=st.integers(1, 40), v=st.integers(1, 3))
def test_fewest_valid_microbatches_is_the_first_m_the_generator_accepts(name, p, m, v):
    """The widget's rule for keeping its m slider valid agrees with the generators themselves."""
    from mlsys_kit.pipeline.generators import fewest_valid_microbatches

    fixed, why = fewest_valid_microbatches(name, p, m, v)
    assert fixed >= m and (why == "") == (fixed == m)
    make_schedule(name, p, fixed, v)  # accepted
    for smaller in range(m, fixed):
        with pytest.raises(ValueError):
            make_schedule(name, p, smaller, v)
