"""IO accounting (FlashAttention section 3.2): bytes counted by running the tiled loops equal
the per-tile formula, follow Theorem 2 over a sweep, and the paper's Figure 2 example."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlsys_kit.attention.io import (PAPER_FIGURE_2, block_sizes, counted_io, formula_io, io_report,
                                    paper_example, sram_elements, theorem2, tile_steps)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 48), d=st.integers(4, 24), m_rows=st.integers(1, 64), causal=st.booleans(),
       dtype=st.sampled_from(["fp16", "bf16", "fp32"]))
def test_counted_bytes_equal_the_formula(n, d, m_rows, causal, dtype):
    M = m_rows * d  # SRAM of m_rows rows of d elements (>= d, Theorem 2's range)
    assert counted_io(n, d, M, dtype, causal) == formula_io(n, d, M, dtype, causal)


def test_block_sizes_follow_algorithm_1():
    assert block_sizes(51200, 64) == (200, 64)  # 100 KB of fp16
    assert block_sizes(1024, 64) == (4, 4)
    assert block_sizes(64, 64) == (1, 1)
    assert sram_elements(100, "fp16") == 51200 and sram_elements(100, "fp32") == 25600
    with pytest.raises(ValueError, match="at least one row of d = 64"):
        block_sizes(63, 64)


# Theorem 2, d <= M <= N d: a sweep over N, d and M, counted by running the loops where that is
# cheap (at most 128 tile steps a point: the loops are Python), from the formula (equal to the
# counts, test above) for the large points.
SWEEP = [(n, d, f * d * d) for d in (16, 32, 64, 128) for n in (128, 256, 1024, 4096, 16384)
         for f in (1, 4, 16, 64) if d <= f * d * d <= n * d]


def test_theorem_2_over_a_sweep():
    flash_ratio, std_ratio, counted = [], [], 0
    for n, d, M in SWEEP:
        if tile_steps(n, d, M) <= 128:
            io, counted = counted_io(n, d, M, "fp16"), counted + 1
        else:
            io = formula_io(n, d, M, "fp16")
        th = theorem2(n, d, M)
        flash_ratio.append((io["flash_forward"] + io["flash_backward"]) / th["flash"])
        std_ratio.append((io["standard_forward"] + io["standard_backward"]) / th["standard"])
    # Theta: bytes / (N^2 d^2 / M) and bytes / (N d + N^2) stay between constants over the sweep
    assert len(SWEEP) >= 40 and counted >= 8
    # (the constant is large: fp16 bytes, fp32 L, D and dQ accumulator; it barely moves from N = 128 to 16k)
    assert 50 <= min(flash_ratio) and max(flash_ratio) <= 100 and max(flash_ratio) < 1.5 * min(flash_ratio)
    assert 2 * 11 <= min(std_ratio) * 1.0001 and max(std_ratio) <= 2 * 12, std_ratio  # 11 N^2 + 12 N d elements


def test_more_sram_means_proportionally_fewer_kv_passes():
    """Doubling M halves the passes over K and V (the N^2 d^2 / M term); standard does not move."""
    n, d = 4096, 64
    base = formula_io(n, d, 64 * d)
    for f in (2, 4, 8):
        io = formula_io(n, d, 64 * d * f)
        assert io["standard_forward"] == base["standard_forward"]
        # forward: Q, O, L are fixed; the K/V reads shrink by f
        fixed = 2 * n * d * 2 + 4 * n
        assert (io["flash_forward"] - fixed) * f == base["flash_forward"] - fixed


def test_paper_figure_2_example_is_pinned():
    """Figure 2 (left): GPT-2 medium, N = 1024, d = 64, 16 heads, batch 64, fp16, A100: the
    paper measured 40.3 GB (standard) and 4.4 GB (FlashAttention) of HBM reads + writes."""
    assert (PAPER_FIGURE_2["standard_hbm_gb"], PAPER_FIGURE_2["flash_hbm_gb"]) == (40.3, 4.4)
    at_100 = paper_example(100)
    assert at_100["method"] == "counted" and at_100["batch_heads"] == 1024
    # Algorithm 0 + 3: (4Nd + 4N^2 + 8Nd + 7N^2) * 2 bytes * 1024 heads
    assert at_100["standard_bytes"] == (12 * 1024 * 64 + 11 * 1024 ** 2) * 2 * 1024
    assert round(at_100["standard_gb"], 2) == 25.23 and round(at_100["flash_gb"], 2) == 7.57
    at_192 = paper_example(192)  # the A100's SRAM per SM (section 2.1)
    assert round(at_192["flash_gb"], 2) == 4.33 and abs(at_192["flash_gb"] - 4.4) / 4.4 < 0.05
    assert at_192["ratio"] > at_100["ratio"] > 3


def test_io_report_counts_small_and_uses_the_formula_for_large():
    small = io_report(256, 64, 100)
    assert small["method"] == "counted" and small["standard_bytes"] > small["flash_bytes"]
    big = io_report(65536, 64, 100)
    assert big["method"] == "formula" and big["ratio"] > 3  # both grow as N^2: the ratio ~ M / d^2
    fwd = io_report(256, 64, 100, backward=False)
    assert fwd["flash_bytes"] == small["flash_forward_bytes"]
    with pytest.raises(ValueError, match="dtype must be one of"):
        io_report(256, 64, 100, dtype="fp8")


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 40), nk=st.integers(1, 40), d=st.integers(1, 16), bq=st.integers(1, 40), bk=st.integers(1, 40),
       causal=st.booleans(), half=st.booleans())
def test_forward_bytes_equal_the_counted_loop_for_any_tiles(n, nk, d, bq, bk, causal, half):
    import torch

    from mlsys_kit.attention.flash import HBM, flash_forward
    from mlsys_kit.attention.io import flash_forward_bytes

    dtype = torch.float16 if half else torch.float32
    q, k = torch.randn(n, d).to(dtype), torch.randn(nk, d).to(dtype)
    hbm = HBM()
    flash_forward(q, k, k, causal, bq, bk, hbm=hbm)
    assert hbm.total_bytes == flash_forward_bytes(n, d, bq, 2 if half else 4, causal, kv_seq=nk)
    assert hbm.writes["O"] == n * d * (2 if half else 4)  # O is written once, whatever the K/V tiles
