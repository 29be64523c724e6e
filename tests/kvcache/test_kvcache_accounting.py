"""Memory accounting: closed form vs the real BlockManager, and the paper's effect."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from mlsys_kit.kvcache.accounting import sample_workload, sharing_report, sweep_block_sizes, waste_report
from mlsys_kit.kvcache.allocator import BlockAllocator
from mlsys_kit.kvcache.block_table import BlockManager


@settings(max_examples=25, deadline=None)
@given(block_size=st.integers(1, 32), workload=st.lists(st.tuples(st.integers(1, 60), st.integers(1, 40)),
                                                        min_size=1, max_size=6))
def test_paged_utilization_equals_block_manager_simulation(block_size, workload):
    """Decode every request token by token on the real BlockManager and count allocated slots."""
    mgr = BlockManager(BlockAllocator(sum(-(-(p + o) // block_size) for p, o in workload), block_size))
    real = slots = 0
    for r, (p, o) in enumerate(workload):
        mgr.append(r, [0] * p)
        for step in range(o + 1):
            if step:
                mgr.append(r, [1])
            real += mgr.num_tokens(r)
            slots += len(mgr.block_table(r)) * block_size
    rep = waste_report(block_size, len(workload), max_len=100, workload=workload)
    assert rep["paged_utilization"] == pytest.approx(real / slots)
    assert rep["paged_waste_slots_per_seq"] < block_size


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paper_effect_static_minority_paged_under_one_block(seed):
    rep = waste_report(16, 500, max_len=2048, seed=seed)
    assert rep["static_utilization"] < 0.5  # a minority of reserved memory holds tokens
    assert 0.15 < rep["static_utilization"] < 0.45  # near the paper's 20.4-38.2 %
    assert rep["paged_utilization"] > 0.95
    assert rep["paged_waste_slots_per_seq"] < 16


def test_sweep_trades_fragmentation_for_table_size():
    rows = sweep_block_sizes([1, 4, 16, 64, 256], 200)
    util = [r["paged_utilization"] for r in rows]
    entries = [r["mean_table_entries"] for r in rows]
    assert util == sorted(util, reverse=True) and util[0] == 1.0
    assert entries == sorted(entries, reverse=True)


def test_sharing_saves_blocks():
    rep = sharing_report(16, 30, samples=3, shared_prefix=64, seed=0)
    assert rep["fork_blocks_with_sharing"] < rep["fork_blocks_without_sharing"]
    assert rep["prefix_blocks_with_cache"] == rep["prefix_blocks_without_cache"] - 29 * 4
    assert rep["prefix_cache_hits"] == 29 * 4
    one = sharing_report(16, 30, samples=1, shared_prefix=0, seed=0)
    assert one["fork_saving"] == 0 and one["prefix_saving"] == 0


def test_workload_and_bad_input():
    w = sample_workload(300, max_len=512, seed=3)
    assert w == sample_workload(300, max_len=512, seed=3)
    assert all(p >= 1 and o >= 1 and p + o <= 512 for p, o in w)
    with pytest.raises(ValueError):
        waste_report(0, 10)
    with pytest.raises(ValueError):
        sample_workload(0)
