"""mlsys_kit.offload.schedule: row-by-row and zig-zag orders (FlexGen section 4.1, figure 3)."""

import random

import pytest
from hypothesis import given, settings, strategies as st

from mlsys_kit.offload.schedule import ORDERS, Step, check_order, order, row_by_row, weight_loads, zigzag

sizes = st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6))


@settings(derandomize=True, max_examples=60)
@given(sizes, st.sampled_from(ORDERS))
def test_both_orders_compute_every_step_once_after_its_dependencies(lnb, name):
    layers, tokens, batches = lnb
    steps = order(name, layers, tokens, batches)
    check_order(steps, layers, tokens, batches)  # raises on a missing, repeated or early step
    assert sorted((s.token, s.layer, s.batch) for s in steps) == sorted(
        (t, l, j) for t in range(tokens) for l in range(layers) for j in range(batches))


@settings(derandomize=True, max_examples=60)
@given(sizes)
def test_zigzag_loads_each_layer_once_per_token_step_and_row_once_per_batch(lnb):
    layers, tokens, batches = lnb
    assert weight_loads(zigzag(layers, tokens, batches)) == {l: tokens for l in range(layers)}
    assert weight_loads(row_by_row(layers, tokens, batches)) == {l: tokens * batches for l in range(layers)}


def test_the_orders_are_figure_3s():
    assert [(s.token, s.layer, s.batch) for s in row_by_row(2, 2, 2)] == [
        (0, 0, 0), (0, 1, 0), (1, 0, 0), (1, 1, 0), (0, 0, 1), (0, 1, 1), (1, 0, 1), (1, 1, 1)]
    assert [(s.token, s.layer, s.batch) for s in zigzag(2, 2, 2)] == [
        (0, 0, 0), (0, 0, 1), (0, 1, 0), (0, 1, 1), (1, 0, 0), (1, 0, 1), (1, 1, 0), (1, 1, 1)]


def test_loads_and_stores_of_each_step():
    steps = {(s.token, s.layer, s.batch): s for s in zigzag(3, 2, 2)}
    assert steps[0, 0, 0].loads == ("weights",) and steps[0, 0, 1].loads == ()
    assert steps[0, 1, 0].loads == ("weights", "activations") and steps[0, 2, 1].loads == ("activations",)
    assert steps[1, 0, 0].loads == ("weights", "kv_cache") and steps[1, 1, 1].loads == ("kv_cache", "activations")
    assert steps[0, 0, 0].stores == ("kv_cache", "activations") and steps[1, 2, 0].stores == ("kv_cache",)
    assert all("weights" in s.loads for s in row_by_row(3, 2, 2))


def test_check_order_rejects_broken_orders():
    good = zigzag(2, 3, 2)
    with pytest.raises(ValueError, match="computed twice"):
        check_order(good + [good[0]], 2, 3, 2)
    with pytest.raises(ValueError, match="never run"):
        check_order(good[:-1], 2, 3, 2)
    swapped = [good[1], good[0]] + good[2:]  # batch order inside a layer does not matter
    check_order(swapped, 2, 3, 2)
    with pytest.raises(ValueError, match="before layer 0 of the same token"):
        check_order([good[2]] + good[:2] + good[3:], 2, 3, 2)
    early = next(s for s in good if (s.token, s.layer, s.batch) == (1, 0, 0))
    with pytest.raises(ValueError, match="before layer 0 of token 0"):
        check_order([early] + [s for s in good if s is not early], 2, 3, 2)
    with pytest.raises(ValueError, match="outside the grid"):
        check_order([Step(0, 5, 0, (), ())], 2, 3, 2)


def test_a_random_valid_interleaving_passes_and_a_random_shuffle_fails():
    rng = random.Random(0)
    layers, tokens, batches = 3, 3, 3
    # any topological order passes: advance a random batch by one step at a time
    progress = {j: 0 for j in range(batches)}
    steps = []
    while any(p < layers * tokens for p in progress.values()):
        j = rng.choice([j for j, p in progress.items() if p < layers * tokens])
        t, l = divmod(progress[j], layers)
        steps.append(Step(t, l, j, (), ()))
        progress[j] += 1
    check_order(steps, layers, tokens, batches)
    shuffled = steps[:]
    rng.shuffle(shuffled)
    with pytest.raises(ValueError):
        check_order(shuffled, layers, tokens, batches)


@pytest.mark.parametrize("args", [(0, 1, 1), (1, 0, 1), (1, 1, -1), (1.5, 1, 1)])
def test_bad_sizes_are_rejected(args):
    with pytest.raises(ValueError, match="must be a positive integer"):
        zigzag(*args)
    with pytest.raises(ValueError, match="schedule must be one of"):
        order("diagonal", 1, 1, 1)
