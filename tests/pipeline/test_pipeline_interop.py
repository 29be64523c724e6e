"""Interop with torch.distributed.pipelining: our validator and simulator on torch's own schedules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlsys_kit.pipeline.generators import SCHEDULES, gpipe, interleaved_1f1b, make_schedule, one_f_one_b, zb_h1, zb_v
from mlsys_kit.pipeline.interop import TORCH_SCHEDULES, from_torch, to_torch, torch_pipeline_order
from mlsys_kit.pipeline.simulate import simulate
from mlsys_kit.pipeline.validate import ScheduleError, validate

CONFIGS = [(2, 4), (3, 6), (4, 8), (4, 12), (2, 6)]


@settings(max_examples=25, deadline=None)
@given(p=st.integers(1, 6), k=st.integers(1, 4), v=st.integers(1, 3))
def test_round_trip_through_torch_actions(p, k, v):
    from torch.distributed.pipelining.schedules import _ComputationType

    for name in SCHEDULES:
        ours = make_schedule(name, p, p * k, v)
        order = to_torch(ours)
        back = from_torch(order, ours.num_microbatches)
        assert back.ranks == ours.ranks and back.placement == ours.placement
        # the vocabulary: our BW is torch's "B", our B is torch's "I"
        kinds = {(a.kind, t.computation_type) for r in order for a, t in zip(ours.ranks[r], order[r])}
        assert kinds <= {("F", _ComputationType.FORWARD), ("BW", _ComputationType.FULL_BACKWARD),
                         ("B", _ComputationType.BACKWARD_INPUT), ("W", _ComputationType.BACKWARD_WEIGHT)}


def _same(ours, theirs):
    assert theirs.ranks == ours.ranks and theirs.placement == ours.placement
    a, b = simulate(ours, 1, 2, 1), simulate(theirs, 1, 2, 1)
    assert (a.makespan, a.bubble_fraction, a.peak_activations) == (b.makespan, b.bubble_fraction, b.peak_activations)


@pytest.mark.parametrize("p, m", CONFIGS)
def test_torch_gpipe_is_ours(p, m):
    _same(gpipe(p, m), from_torch(torch_pipeline_order("ScheduleGPipe", p, m), m))


@pytest.mark.parametrize("p, m", CONFIGS)
@pytest.mark.parametrize("v", [2, 3])
def test_torch_interleaved_1f1b_is_ours(p, m, v):
    theirs = from_torch(torch_pipeline_order("ScheduleInterleaved1F1B", p, m, v), m)
    _same(interleaved_1f1b(p, m, v), theirs)
    assert simulate(theirs).bubble_fraction == pytest.approx((p - 1) / (v * m))


@pytest.mark.parametrize("p, m", CONFIGS)
def test_torch_zero_bubble_one_chunk_is_our_zb_h1(p, m):
    _same(zb_h1(p, m), from_torch(torch_pipeline_order("ScheduleInterleavedZeroBubble", p, m, 1), m))


@pytest.mark.parametrize("p, m", CONFIGS + [(4, 4), (3, 2)])
def test_torch_zbv_is_our_zb_v(p, m):
    _same(zb_v(p, m), from_torch(torch_pipeline_order("ScheduleZBVZeroBubble", p, m), m))


@pytest.mark.parametrize("p, m", CONFIGS)
def test_torch_1f1b_order_matches_ours_except_its_last_rank(p, m):
    """torch 2.13's Schedule1F1B._get_pipeline_order numbers the last rank's forwards from 1 (F1..Fm
    instead of F0..F(m-1)); its executor does not use this order, but our validator catches it."""
    theirs = from_torch(torch_pipeline_order("Schedule1F1B", p, m), m + 1)
    ours = one_f_one_b(p, m)
    assert theirs.ranks[:-1] == ours.ranks[:-1]
    with pytest.raises(ScheduleError) as info:
        validate(from_torch(torch_pipeline_order("Schedule1F1B", p, m), m))
    assert info.value.rank == p - 1 and str(info.value.action) == f"F{m}@s{p - 1}"


@pytest.mark.parametrize("cls", [c for c in TORCH_SCHEDULES if c != "Schedule1F1B"])
@pytest.mark.parametrize("p, m, v", [(2, 4, 2), (4, 8, 2), (3, 9, 3), (4, 16, 2)])
def test_every_other_torch_schedule_is_valid_and_no_worse_than_1f1b(cls, p, m, v):
    theirs = from_torch(torch_pipeline_order(cls, p, m, v), m)
    validate(theirs)
    res = simulate(theirs)
    assert res.bubble_fraction <= (p - 1) / m + 1e-12
    assert len(res.events) == sum(len(r) for r in theirs.ranks)


def test_interop_checks_inputs():
    with pytest.raises(ValueError, match="torch schedule must be one of"):
        torch_pipeline_order("ScheduleMagic", 2, 4)
    with pytest.raises(ValueError, match="DualPipeV needs at least as many microbatches"):
        torch_pipeline_order("ScheduleDualPipeV", 4, 4)
    with pytest.raises(ValueError, match="non-empty dict"):
        from_torch({})
