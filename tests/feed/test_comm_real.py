"""The real gloo run (2 processes): gradients all-reduced in each policy's order and chunking
equal DistributedDataParallel's bit for bit; measured times are reported, never asserted."""

import pytest

from mlsys_kit.feed.comm import POLICIES
from mlsys_kit.feed.comm_real import run_real


def test_every_policy_matches_ddp_bitwise_on_two_ranks():
    # chunks of 16 KB, a credit of two chunks and 64 KB buckets: layer 1 (64 KB) is cut in 4 and
    # overtakes layer 3's; on 2 ranks a/2 + b/2 is one rounding, so equality is exact
    r = run_real(ranks=2, steps=3, sizes=(32, 128, 128, 256, 16), per_rank_batch=8,
                 partition=16 * 1024, credit=32 * 1024, bucket_bytes=64 * 1024)
    assert set(r["policies"]) == set(POLICIES)
    assert r["matches_ddp"] and r["bitwise"]
    for p in r["policies"].values():
        assert p["max_abs_diff"] == 0.0
        assert p["iteration_time_s"] > 0 and p["simulated_s"] > 0
    assert sorted(r["measured_order"]) == sorted(r["simulated_order"]) == sorted(POLICIES)
    assert r["same_order"] == (r["measured_order"] == r["simulated_order"])


def test_bad_input_before_any_process_starts():
    with pytest.raises(ValueError, match="ranks must be 2, 3 or 4"):
        run_real(ranks=8)
    with pytest.raises(ValueError, match="credit must be at least one partition"):
        run_real(partition=1024, credit=512)
    with pytest.raises(ValueError, match="policy must be one of"):
        run_real(policies=("lifo",))
