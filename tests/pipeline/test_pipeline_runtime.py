"""The torch.distributed runtime: every schedule, run as written on gloo, equals one process."""

from __future__ import annotations

import random

import pytest

from mlsys_kit.pipeline.generators import gpipe, interleaved_1f1b, one_f_one_b, zb_h1, zb_v
from mlsys_kit.pipeline.runtime import RunConfig, reference, run_spawn
from mlsys_kit.pipeline.simulate import simulate

from test_pipeline_core import _random_valid  # noqa: E402  (same folder, pytest rootdir import)


def _check(results, scheds):
    for res, sched in zip(results, scheds, strict=True):
        assert res.schedule == sched.name
        assert res.match, f"{sched.name}: max diff {res.max_diff}"
        assert res.max_diff <= 1e-6
        assert res.loss == pytest.approx(res.reference_loss, abs=1e-6)
        assert res.step_time_s > 0
        # the measured timeline runs each rank's actions in the schedule's order
        for r in range(sched.num_ranks):
            evs = sorted((e for e in res.events if e.rank == r), key=lambda e: e.start)
            assert [e.action for e in evs] == sched.ranks[r]
            assert all(e.end >= e.start for e in evs)
        # activation memory measured from the timeline peaks where the simulator says it does
        assert [max(y for _, y in c) for c in res.memory] == simulate(sched).peak_activations


def test_two_ranks_every_schedule_and_a_random_one():
    scheds = [gpipe(2, 4), one_f_one_b(2, 4), interleaved_1f1b(2, 4, 2), zb_h1(2, 4), zb_v(2, 4),
              _random_valid(2, 4, 2, True, random.Random(7))]
    scheds[-1].name = "random-split"
    _check(run_spawn(scheds, RunConfig(hidden=16, batch=8, repeats=1)), scheds)


def test_four_ranks_with_blocking_receives():
    scheds = [one_f_one_b(4, 4), interleaved_1f1b(4, 4, 2), zb_h1(4, 4), zb_v(4, 4)]
    _check(run_spawn(scheds, RunConfig(hidden=16, batch=8, repeats=1, prepost=False)), scheds)


def test_reference_is_deterministic_and_inputs_checked():
    a, ga = reference(3, RunConfig(hidden=8, batch=4))
    b, gb = reference(3, RunConfig(hidden=8, batch=4))
    assert a == b and all((x == y).all() for sa, sb in zip(ga, gb) for x, y in zip(sa, sb))
    with pytest.raises(ValueError, match="multiple of the microbatches"):
        run_spawn([one_f_one_b(2, 3)], RunConfig(batch=8))
    with pytest.raises(ValueError, match="hidden must be a positive integer"):
        RunConfig(hidden=0)


def test_runs_unchanged_under_torchrun():
    import json
    import subprocess
    import sys
    from pathlib import Path

    torchrun = Path(sys.executable).parent / "torchrun"
    proc = subprocess.run([str(torchrun), "--nproc-per-node", "2", "-m", "mlsys_kit.pipeline.runtime",
                           "--schedule", "interleaved-1f1b", "--stages", "2", "--microbatches", "4"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["match"] is True and out["schedule"] == "interleaved-1f1b" and out["max_diff"] <= 1e-6
