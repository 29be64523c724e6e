"""Universal checkpoints and recovery on real gloo runs (mlsys_kit.fault.reshard_real, recover)."""

from __future__ import annotations

import pytest

from mlsys_kit.fault.recover import run_with_failure
from mlsys_kit.fault.reshard_math import Layout, checkpoint_bytes
from mlsys_kit.fault.layout_run import specs
from mlsys_kit.fault.reshard_real import reshard_run
from mlsys_kit.zero.model import memory_per_device


def test_reshard_t2_d2_zero1_to_t1_d4_zero3_resumes_the_same_run():
    r = reshard_run("t2,d2,zero1", "t1,d4,zero3", save_at=2, steps=4)
    assert r["matches_uninterrupted"] and r["max_abs_loss_diff"] <= 1e-5, r
    assert r["same_layout_bitwise"]  # resuming under the saved layout changes nothing, bit for bit
    assert len(r["losses_resumed"]) == 2 and r["losses_uninterrupted"][2:] != r["losses_uninterrupted"][:2]
    assert r["bytes_equal_model"] and r["checkpoint_bytes_per_rank"] == checkpoint_bytes(specs(), Layout(2, 2, 1))
    psi_t = sum(s.local_numel(2) for s in specs())  # one tensor rank's parameters: ZeRO-1's memory model
    m = memory_per_device(psi_t, 2, 1, k=8, param_bytes=4, padded=True)
    assert r["checkpoint_bytes_per_rank"][0] == m.params_bytes + m.optimizer_bytes
    assert r["universal_bytes"] == 3 * 4 * sum(s.numel for s in specs())


def test_a_killed_rank_recovers_from_its_peers_memory_or_else_from_storage():
    mem = run_with_failure(kill_at=3, layout="t1,d2,zero1", steps=5, storage_every=2)
    assert mem["killed"] == {"rank": 1, "signal": "SIGKILL"}
    assert mem["recovered_from"] == "peer-memory" and mem["restart_step"] == 2 and mem["lost_steps"] == 1
    assert mem["matches_uninterrupted"] and len(mem["losses_after_restart"]) == 3
    both = run_with_failure(kill_at=4, layout="t1,d2,zero1", steps=5, storage_every=2, failed=[0])
    assert both["recovered_from"] == "storage" and both["restart_step"] == 2 and both["lost_steps"] == 2
    assert both["matches_uninterrupted"] and both["recovery_bytes"] == mem["recovery_bytes"] > 0


@pytest.mark.parametrize("call, match", [
    (lambda: reshard_run("t3,d1,zero0", "t1,d1,zero0"), "cannot be split over t=3"),
    (lambda: reshard_run("t2,d2,zero1", "t2,d2,zero4"), "zero"),
    (lambda: reshard_run("t1,d2,zero1", "t1,d1,zero0", save_at=6, steps=6), r"save_at must be a step inside"),
    (lambda: reshard_run("t2,d8,zero1", "t1,d1,zero0"), "at most 8"),
    (lambda: run_with_failure(kill_at=0), r"kill_at must be a step inside the run"),
    (lambda: run_with_failure(layout="t1,d1,zero0"), "needs 2 to 8 ranks"),
    (lambda: run_with_failure(kill_rank=2), r"kill_rank must be a rank"),
    (lambda: run_with_failure(failed=[5]), "failed machines"),
])
def test_bad_input_is_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
