"""mlsys_kit.offload.search: FlexGen's policy search (section 4.2) as an LP on HiGHS, checked
against the cost model, a brute force over a grid of placements and FlexGen's headline."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from mlsys_kit.models.costs import TransformerConfig
from mlsys_kit.offload import cost
from mlsys_kit.offload.config import Hardware, Placement, Policy, Tier, Workload, hardware, model
from mlsys_kit.offload.search import _parts, capacity_constraints, placement_of, search, solve

SMALL = TransformerConfig(name="small", layers=3, hidden=64, heads=4, vocab=100, seq_len=64, learned_positions=64)
# ~300 KB of weights: the device holds two layers' buffers and a share, the host not all the rest
TIGHT = Hardware("tight", Tier("device", 300e3, 50e9, 50e9), Tier("host", 250e3, 8e9, 6e9),
                 Tier("disk", 1e7, 1e9, 0.5e9), flops=2e11)
WL = Workload(8, 3)


def with_host(hw, capacity):
    return hw.with_capacity("host", capacity)


@settings(derandomize=True, max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=9, max_size=9), st.integers(1, 4), st.integers(1, 4),
       st.sampled_from(cost.SCHEDULES), st.booleans())
def test_capacity_rows_are_the_cost_models_resident_bytes(x, b, k, schedule, compress):
    A, cap = capacity_constraints(SMALL, TIGHT, b, k, WL, schedule, compress)
    policy = Policy(b, k, compress=compress)
    r = cost.resident_bytes(SMALL, policy, WL, schedule, p=_parts(SMALL, x))
    got = A @ np.array(x)
    want = [r["device"] - cost.compute_buffer(SMALL, b, WL.prompt_len), r["host"], r["disk"]]
    assert np.allclose(got, want, rtol=1e-12)
    assert cap[1] == TIGHT.host.capacity_bytes and cap[0] == TIGHT.device.capacity_bytes - cost.compute_buffer(
        SMALL, b, WL.prompt_len)


@pytest.mark.parametrize("b, k, schedule, overlap", [(1, 1, "zigzag", True), (2, 3, "zigzag", True),
                                                     (2, 2, "row", True), (2, 3, "zigzag", False)])
def test_lp_fits_every_tier_matches_the_cost_model_and_no_grid_placement_beats_it(b, k, schedule, overlap):
    sol = solve(SMALL, TIGHT, b, k, WL, schedule, overlap)
    assert sol is not None
    policy = Policy(b, k, placement_of(sol["x"]), overlap=overlap)
    g = cost.generation(SMALL, TIGHT, policy, WL, schedule)
    assert g["fits"]  # every tier's peak within its capacity, after rounding to whole elements too
    exact = cost.generation(SMALL, TIGHT, policy, WL, schedule, p=_parts(SMALL, sol["x"]))
    assert math.isclose(exact["time_s"], sol["time_s"], rel_tol=1e-9)  # the LP is the cost model
    assert math.isclose(g["time_s"], sol["time_s"], rel_tol=0.02)  # whole elements of 64-element tensors
    grid = [(d, h, 100 - d - h) for d in range(0, 101, 25) for h in range(0, 101 - d, 25)]
    best = math.inf
    for w, a, c in itertools.product(grid, grid, grid):
        x = [v / 100 for v in (*w, *a, *c)]
        cand = cost.generation(SMALL, TIGHT, Policy(b, k, overlap=overlap), WL, schedule, p=_parts(SMALL, x))
        if cand["fits"]:
            best = min(best, cand["time_s"])
    assert best < math.inf and sol["time_s"] <= best * (1 + 1e-9)


def test_an_lp_that_cannot_fit_returns_none_and_search_says_why():
    assert solve(SMALL, with_host(TIGHT, 0).with_capacity("disk", 0), 1, 1, WL) is None
    with pytest.raises(ValueError, match="no policy fits small on tight"):
        search(SMALL, with_host(TIGHT, 0).with_capacity("disk", 0), WL, batch_sizes=(1, 2), num_batches=(1,))


@settings(derandomize=True, max_examples=6, deadline=None)
@given(st.floats(150e3, 600e3), st.floats(1.0, 3.0), st.sampled_from(cost.SCHEDULES))
def test_more_host_memory_never_slows_the_best_plan(host, factor, schedule):
    grid = {"batch_sizes": (1, 2, 4), "num_batches": (1, 2, 4)}
    small = search(SMALL, with_host(TIGHT, host), WL, schedule, **grid)
    big = search(SMALL, with_host(TIGHT, host * factor), WL, schedule, **grid)
    assert big["tokens_per_s"] >= small["tokens_per_s"] * (1 - 1e-6)


@settings(derandomize=True, max_examples=6, deadline=None)
@given(st.floats(150e3, 600e3), st.booleans())
def test_zigzag_is_never_slower_than_row_by_row(host, overlap):
    grid = {"batch_sizes": (1, 2, 4), "num_batches": (1, 2, 4)}
    z = search(SMALL, with_host(TIGHT, host), WL, "zigzag", overlap, **grid)
    r = search(SMALL, with_host(TIGHT, host), WL, "row", overlap, **grid)
    assert z["tokens_per_s"] >= r["tokens_per_s"] * (1 - 1e-6)


def test_search_reports_the_policy_and_every_candidate():
    r = search(SMALL, TIGHT, WL, batch_sizes=(1, 2), num_batches=(1, 2))
    assert r["batch"] == r["batch_size"] * r["num_batches"] == r["policy"].block_size
    assert {(c["batch_size"], c["num_batches"]) for c in r["candidates"]} <= {(1, 1), (1, 2), (2, 1), (2, 2)}
    assert max(c["tokens_per_s"] for c in r["candidates"]) == r["lp_tokens_per_s"]
    assert math.isclose(r["tokens_per_s"], r["lp_tokens_per_s"], rel_tol=0.02)
    for kind, by_tier in r["placement"].items():
        assert math.isclose(sum(by_tier.values()), 100.0) and min(by_tier.values()) >= 0
    with pytest.raises(ValueError, match="at least one value"):
        search(SMALL, TIGHT, WL, batch_sizes=())
    with pytest.raises(ValueError, match="schedule must be one of"):
        search(SMALL, TIGHT, WL, "diagonal")
    with pytest.raises(ValueError, match="batch size must be a positive integer"):
        search(SMALL, TIGHT, WL, batch_sizes=(0,))


def test_placement_of_rounds_to_percentages_that_sum_to_100():
    p = placement_of([0.1, 0.2, 0.7, 1.0000000001, -1e-12, 0.0, 0.3333333333, 0.3333333333, 0.3333333334])
    assert p.weights == (10.0, 20.0, 70.0) and p.activations[0] == 100.0
    assert all(math.isclose(sum(p.of(kind)), 100.0) for kind in ("weights", "activations", "kv_cache"))


def test_flexgens_headline_opt175b_on_one_t4():
    """FlexGen table 2 / the batch-size table: OPT-175B, one T4 (16 GB), 208 GB host, 1.5 TB SSD,
    prompt 512, 32 tokens: 0.69 token/s at an effective batch of 32 x 8 = 256, no compression.
    Row-by-row offloading (DeepSpeed ZeRO-Inference, batch 1) reaches 0.01 token/s."""
    cfg, hw = model("opt-175b"), hardware("t4-16gb")
    grid = {"batch_sizes": (16, 32, 48), "num_batches": (4, 8, 16)}
    z = search(cfg, hw, Workload(512, 32), "zigzag", **grid)
    assert 0.5 < z["tokens_per_s"] < 1.0 and z["batch"] >= 128 and z["fits"]
    row = search(cfg, hw, Workload(512, 32), "row", batch_sizes=(1,), num_batches=(1,))
    assert row["tokens_per_s"] < 0.05 < z["tokens_per_s"] / 10


def test_solve_takes_capacity_rows_from_outside():
    """The lab's judge runs the reference LP on a student's capacity rows."""
    rows = capacity_constraints(SMALL, TIGHT, 2, 3, WL)
    assert solve(SMALL, TIGHT, 2, 3, WL, rows=rows)["time_s"] == solve(SMALL, TIGHT, 2, 3, WL)["time_s"]
    as_lists = ([list(r) for r in rows[0]], list(rows[1]))
    assert solve(SMALL, TIGHT, 2, 3, WL, rows=as_lists)["time_s"] == solve(SMALL, TIGHT, 2, 3, WL)["time_s"]
    no_host = (rows[0], rows[1] * np.array([1.0, 0.0, 1.0]))
    slower = solve(SMALL, TIGHT, 2, 3, WL, rows=no_host)
    assert slower is None or slower["time_s"] > solve(SMALL, TIGHT, 2, 3, WL)["time_s"]
