"""TrainCheck's invariants (mlsys_kit.fault.traincheck): the checker on hand-made records, and
three silent bugs injected into a real gloo run, each caught at the step it appears."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mlsys_kit.fault.traincheck import BUGS, check_step, run_check, run_checks

LR = 0.05


def records(world: int, n: int, seed: int) -> list[dict[str, torch.Tensor]]:
    """A correct step: local gradients, their mean on every rank, one SGD step, same params."""
    g = torch.Generator().manual_seed(seed)
    before = torch.randn(n, generator=g, dtype=torch.float64)
    local = [torch.randn(n, generator=g, dtype=torch.float64) for _ in range(world)]
    mean = torch.stack(local).mean(0)
    after = (before - LR * mean).float().double()
    return [{"local": local[r], "reduced": mean.clone(), "before": before.clone(), "after": after.clone()}
            for r in range(world)]


@settings(max_examples=40, deadline=None)
@given(world=st.integers(2, 6), n=st.integers(1, 40), seed=st.integers(0, 10_000), rank=st.integers(0, 5),
       bug=st.sampled_from(["drop", "double", "stale", "inf"]))
def test_a_correct_step_passes_and_each_bug_breaks_its_invariant(world, n, seed, rank, bug):
    recs = records(world, n, seed)
    assert check_step(recs, LR) == []
    rank %= world
    r = recs[rank]
    if bug == "drop":  # this rank kept its local gradient
        r["reduced"] = r["local"].clone()
        want = {"scaled_once"} | ({"grads_equal"} if not torch.equal(r["local"], recs[(rank + 1) % world]["reduced"]) else set())
    elif bug == "double":  # every rank divided by the world size twice
        for x in recs:
            x["reduced"] = x["reduced"] / world
        want = {"scaled_once"}
    elif bug == "stale":  # one element of this rank's parameters never updated
        r["after"] = r["after"].clone()
        r["after"][n // 2] = r["before"][n // 2]
        want = {"params_equal", "every_param_moves"}
    else:
        r["reduced"] = r["reduced"].clone()
        r["reduced"][0] = float("inf")
        want = {"grads_equal", "scaled_once"}
    assert want <= set(check_step(recs, LR))


def test_bad_records_are_rejected():
    with pytest.raises(ValueError, match="one dict per rank"):
        check_step([], LR)
    with pytest.raises(ValueError, match=r"lacks \['after'\]"):
        check_step([{"local": torch.zeros(1), "reduced": torch.zeros(1), "before": torch.zeros(1)}], LR)


def test_each_injected_bug_is_caught_at_its_step_on_a_real_gloo_run():
    cases = [("none", 0), ("skip-allreduce", 3), ("double-scale", 1), ("stale-shard", 4)]
    results = run_checks(cases, steps=6, ranks=2)
    clean, skip, double, stale = results
    assert not clean["detected"] and clean["per_step"] == [[]] * 6
    for res, (bug, step) in zip(results[1:], cases[1:]):
        assert res["detected"] and res["detected_at_step"] == res["injected_at_step"] == step, res
        assert all(v == [] for v in res["per_step"][:step])  # nothing before the bug
    assert skip["broken"] == ["grads_equal", "scaled_once"]
    assert double["broken"] == ["scaled_once"]  # every rank agrees: only the scale shows it
    assert stale["broken"] == ["params_equal", "every_param_moves"]


@pytest.mark.parametrize("kw, match", [
    ({"inject": "flip-bits"}, "inject must be one of"),
    ({"at_step": 6}, r"at_step must be a step of the run, in \[0, 6\)"),
    ({"ranks": 1}, "needs 2 to 8 ranks"),
    ({"lr": 2.0}, r"lr must be in \(0, 1\)"),
])
def test_bad_input_is_a_clear_error(kw, match):
    with pytest.raises(ValueError, match=match):
        run_check(**({"inject": "double-scale"} | kw))


def test_bugs_are_the_documented_ones():
    assert BUGS == ("none", "skip-allreduce", "double-scale", "stale-shard")
